# frozen_string_literal: true

# Unit tests of Iodine::CLI.parse (pure Ruby: no server, no extension) and a few runs of
# exe/iodine for the paths that end before a server starts (help and usage errors).

$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "iodine/cli"
require "open3"
require "rbconfig"
require "tmpdir"

RSpec.describe Iodine::CLI do
  let(:no_env) { {} }

  def parse(*argv, env: no_env)
    described_class.parse(argv, env)
  end

  def usage_error(message)
    raise_error(Iodine::CLI::UsageError, message)
  end

  describe ".parse defaults" do
    subject(:options) { parse }

    it "uses iodine's defaults when neither the command line nor the environment says otherwise" do
      expect(options).to include(
        address: nil, port: 3000, threads: nil, workers: nil, public: nil, log: false,
        keep_alive: 40, max_body: 50, max_headers: 32, max_line: 8192, max_msg: 250, ping: 40,
        max_age: 3600, tls: false, tls_cert: nil, tls_key: nil, tls_pass: nil, redis: nil,
        redis_ping: 300, config: nil, pid: nil, verbosity: 4, preload: false, hot_restart: nil,
        rackup: "config.ru", help: false
      )
    end

    it "returns every documented key" do
      expect(options.keys).to include(
        :address, :port, :threads, :workers, :public, :log, :keep_alive, :max_body, :max_headers,
        :max_line, :max_msg, :ping, :max_age, :tls, :tls_cert, :tls_key, :tls_pass, :redis,
        :redis_ping, :config, :pid, :verbosity, :preload, :hot_restart, :rackup
      )
    end

    it "does not depend on the real environment when given one" do
      expect(described_class.parse([], { "PORT" => "4567" })[:port]).to eq(4567)
    end
  end

  describe ".parse value options" do
    # [names, value given, key, value expected]
    [
      [%w[-b -bind -address], "127.0.0.1", :address, "127.0.0.1"],
      [%w[-p -port], "8080", :port, 8080],
      [%w[-t -threads], "4", :threads, 4],
      [%w[-w -workers], "2", :workers, 2],
      [%w[-k -keep-alive -tout], "15", :keep_alive, 15],
      [%w[-maxbd -max-body], "10", :max_body, 10],
      [%w[-maxhd -max-header], "64", :max_headers, 64],
      [%w[-maxln -max-line], "4096", :max_line, 4096],
      [%w[-maxms -max-msg], "1024", :max_msg, 1024],
      [%w[-ping], "20", :ping, 20],
      [%w[-maxage], "60", :max_age, 60],
      [%w[-tls-cert -cert], "cert.pem", :tls_cert, "cert.pem"],
      [%w[-tls-key -key], "key.pem", :tls_key, "key.pem"],
      [%w[-tls-pass], "secret", :tls_pass, "secret"],
      [%w[-r -redis], "redis://localhost:6379", :redis, "redis://localhost:6379"],
      [%w[-rp -redis-ping], "60", :redis_ping, 60],
      [%w[-pid -pidfile], "tmp.pid", :pid, "tmp.pid"],
      [%w[-V -verbosity], "5", :verbosity, 5],
      [%w[-hr --hot-restart], "3600", :hot_restart, 3600]
    ].each do |names, given, key, expected|
      names.each do |name|
        it "reads #{name} VALUE, #{name}=VALUE and the -- form into :#{key}" do
          long = name.start_with?("--") ? name : "-#{name}"
          expect(parse(name, given)[key]).to eq(expected)
          expect(parse("#{name}=#{given}")[key]).to eq(expected)
          expect(parse(long, given)[key]).to eq(expected)
          expect(parse("#{long}=#{given}")[key]).to eq(expected)
        end
      end
    end

    it "reads -www / -public as a folder that exists" do
      Dir.mktmpdir do |dir|
        expect(parse("-www", dir)[:public]).to eq(dir)
        expect(parse("-public=#{dir}")[:public]).to eq(dir)
        expect(parse("--public", dir)[:public]).to eq(dir)
      end
    end

    it "reads -C / -config as a file that exists" do
      expect(parse("-C", __FILE__)[:config]).to eq(__FILE__)
      expect(parse("--config=#{__FILE__}")[:config]).to eq(__FILE__)
    end

    it "keeps a value that contains '='" do
      expect(parse("-r=redis://h/?a=b")[:redis]).to eq("redis://h/?a=b")
    end

    it "accepts negative thread and worker counts (fractions of the cores)" do
      expect(parse("-t", "-2", "-w", "-1")).to include(threads: -2, workers: -1)
      expect(parse("-t=-4")[:threads]).to eq(-4)
    end

    it "accepts port 0 and 65535" do
      expect(parse("-p", "0")[:port]).to eq(0)
      expect(parse("-p", "65535")[:port]).to eq(65_535)
    end

    it "lets the last occurrence of an option win" do
      expect(parse("-p", "1", "-port", "2")[:port]).to eq(2)
    end
  end

  describe ".parse switches" do
    it "turns on the request log with -v, -log and --log" do
      %w[-v -log --log].each { |name| expect(parse(name)[:log]).to be(true) }
    end

    it "accepts an explicit switch value after =" do
      expect(parse("-v=1")[:log]).to be(true)
      expect(parse("-log=false")[:log]).to be(false)
      expect(parse("-tls=yes")[:tls]).to be(true)
    end

    it "does not swallow the next argument as a switch value" do
      Dir.mktmpdir do |dir|
        ru = File.join(dir, "app.ru")
        File.write(ru, "run ->(_) { [200, {}, []] }\n")
        expect(parse("-v", ru)).to include(log: true, rackup: ru)
      end
    end

    it "turns on preloading with -warmup and --preload" do
      %w[-warmup --warmup --preload -preload].each { |name| expect(parse(name)[:preload]).to be(true) }
    end

    it "turns on TLS with -tls, or implicitly with a certificate or key" do
      expect(parse("-tls")[:tls]).to be(true)
      expect(parse("-cert", "c.pem")[:tls]).to be(true)
      expect(parse("-key", "k.pem")[:tls]).to be(true)
    end
  end

  describe ".parse Unix sockets" do
    it "sets the port to 0 for a -b path starting with / or ./" do
      expect(parse("-b", "/tmp/iodine.sock", "-p", "3000")).to include(address: "/tmp/iodine.sock", port: 0)
      expect(parse("-b", "./iodine.sock")).to include(address: "./iodine.sock", port: 0)
    end

    it "leaves the port of a host name alone" do
      expect(parse("-b", "localhost", "-p", "81")).to include(address: "localhost", port: 81)
    end

    it "treats an ADDRESS path from the environment the same way" do
      expect(parse(env: { "ADDRESS" => "/tmp/x.sock", "PORT" => "81" })).to include(address: "/tmp/x.sock", port: 0)
    end
  end

  describe ".parse environment" do
    it "reads PORT, ADDRESS, THREADS, WORKERS and IODINE_REDIS_URL" do
      env = { "PORT" => "4000", "ADDRESS" => "0.0.0.0", "THREADS" => "8", "WORKERS" => "3",
              "IODINE_REDIS_URL" => "redis://r" }
      expect(parse(env: env)).to include(port: 4000, address: "0.0.0.0", threads: 8, workers: 3, redis: "redis://r")
    end

    it "reads RAILS_MAX_THREADS and WEB_CONCURRENCY as fall-backs" do
      env = { "RAILS_MAX_THREADS" => "5", "WEB_CONCURRENCY" => "2" }
      expect(parse(env: env)).to include(threads: 5, workers: 2)
    end

    it "prefers THREADS over RAILS_MAX_THREADS and WORKERS over WEB_CONCURRENCY" do
      env = { "THREADS" => "6", "RAILS_MAX_THREADS" => "5", "WORKERS" => "4", "WEB_CONCURRENCY" => "2" }
      expect(parse(env: env)).to include(threads: 6, workers: 4)
    end

    it "lets the command line beat the environment" do
      env = { "PORT" => "4000", "THREADS" => "8", "WORKERS" => "3", "IODINE_REDIS_URL" => "redis://env" }
      expect(parse("-p", "5000", "-t", "2", "-w", "0", "-r", "redis://cli", env: env))
        .to include(port: 5000, threads: 2, workers: 0, redis: "redis://cli")
    end

    it "ignores empty variables" do
      expect(parse(env: { "PORT" => "", "THREADS" => " " })).to include(port: 3000, threads: nil)
    end

    it "records RACK_ENV without changing it" do
      env = { "RACK_ENV" => "production" }
      expect(parse(env: env)[:environment]).to eq("production")
      expect(env).to eq("RACK_ENV" => "production")
    end

    it "names the variable when its value is bad" do
      expect { parse(env: { "PORT" => "http" }) }.to usage_error(/PORT/)
      expect { parse(env: { "WEB_CONCURRENCY" => "many" }) }.to usage_error(/WEB_CONCURRENCY/)
    end
  end

  describe ".parse rackup file" do
    it "defaults to config.ru without checking that it exists (-www may serve alone)" do
      Dir.mktmpdir { |dir| Dir.chdir(dir) { expect(parse[:rackup]).to eq("config.ru") } }
    end

    it "takes the file given, wherever it stands among the options" do
      Dir.mktmpdir do |dir|
        ru = File.join(dir, "app.ru")
        File.write(ru, "run ->(_) { [200, {}, []] }\n")
        expect(parse(ru, "-p", "1")).to include(rackup: ru, port: 1)
        expect(parse("-p", "1", ru)).to include(rackup: ru, port: 1)
        expect(parse("-t", "2", "--", ru)[:rackup]).to eq(ru)
      end
    end

    it "rejects a file that does not exist" do
      expect { parse("missing.ru") }.to usage_error(/missing\.ru/)
    end

    it "rejects a second file" do
      expect { parse(__FILE__, __FILE__) }.to usage_error(/more than one rackup file/)
    end
  end

  describe ".parse pid file" do
    it "names the file iodine.pid inside a folder given with a trailing /" do
      expect(parse("-pid", "/tmp/")[:pid]).to eq("/tmp/iodine.pid")
    end

    it "rejects a folder without the trailing /" do
      Dir.mktmpdir { |dir| expect { parse("-pid", dir) }.to usage_error(/-pid/) }
    end
  end

  describe ".parse errors" do
    it "rejects unknown options, naming them" do
      expect { parse("-bogus") }.to usage_error("unknown option -bogus")
      expect { parse("--bogus=1") }.to usage_error("unknown option --bogus")
    end

    it "rejects a missing value, naming the option" do
      expect { parse("-p") }.to usage_error(/-p needs a value/)
      expect { parse("-p", "-t", "4") }.to usage_error(/-p needs a value/)
      expect { parse("-www") }.to usage_error(/-www needs a value/)
    end

    it "rejects an empty value" do
      expect { parse("-p=") }.to usage_error(/-p/)
      expect { parse("-b=") }.to usage_error(/-b/)
    end

    it "rejects a port that is not a whole number" do
      expect { parse("-p", "http") }.to usage_error(/-p expects a whole number, got "http"/)
      expect { parse("-p", "80.5") }.to usage_error(/-p/)
      expect { parse("--port=3000x") }.to usage_error(/--port/)
    end

    it "rejects a port outside 0..65535" do
      expect { parse("-p", "65536") }.to usage_error(/-p must be a port number 0..65535/)
      expect { parse("-p", "-1") }.to usage_error(/-p must be a port number/)
    end

    it "rejects negative sizes and intervals" do
      %w[-maxbd -maxhd -maxln -maxms -k -ping -maxage -rp -hr].each do |name|
        expect { parse(name, "-1") }.to usage_error(/#{name} must be 0 or more/)
      end
    end

    it "rejects a verbosity outside 0..5" do
      expect { parse("-V", "6") }.to usage_error(/-V must be 0..5/)
      expect { parse("-verbosity=-1") }.to usage_error(/-verbosity/)
    end

    it "rejects a non-number thread count" do
      expect { parse("-t", "lots") }.to usage_error(/-t expects a whole number/)
    end

    it "rejects a switch value it cannot read" do
      expect { parse("-v=maybe") }.to usage_error(/-v/)
    end

    it "rejects a -www folder or -C file that does not exist" do
      expect { parse("-www", "/no/such/folder") }.to usage_error(/-www/)
      expect { parse("-C", "/no/such/file.rb") }.to usage_error(/-C/)
    end
  end

  describe ".parse help" do
    it "recognises -h, -help, --help and -?" do
      %w[-h -help --help -?].each { |name| expect(parse(name)[:help]).to be(true) }
    end

    it "wins over other, even bad, arguments" do
      expect(parse("-bogus", "-h")[:help]).to be(true)
    end
  end

  describe ".help" do
    subject(:text) { described_class.help }

    it "lists every option name" do
      names = %w[-b -bind -p -port -t -threads -w -workers -www -public -v -log -k -keep-alive
                 -maxbd -max-body -maxhd -max-header -maxln -max-line -maxms -max-msg -ping -maxage
                 -tls -tls-cert -cert -tls-key -key -tls-pass -r -redis -rp -redis-ping -C -config
                 -pid -pidfile -V -verbosity -warmup --preload -hr --hot-restart -h -help -?]
      names.each { |name| expect(text).to match(/(^|[ ,])#{Regexp.escape(name)}([ ,]|$)/) }
    end

    it "shows the defaults" do
      %w[3000 40 50 32 8192 250 3600 300].each { |value| expect(text).to match(/\[default: [^\]]*\b#{value}\]/) }
      expect(text).to include("config.ru")
    end

    it "lists the environment variables" do
      %w[PORT ADDRESS THREADS WORKERS WEB_CONCURRENCY RAILS_MAX_THREADS IODINE_REDIS_URL RACK_ENV].each do |name|
        expect(text).to include(name)
      end
    end
  end

  describe "exe/iodine" do
    let(:exe) { File.expand_path("../exe/iodine", __dir__) }

    def launch(*args)
      Open3.capture3(RbConfig.ruby, exe, *args)
    end

    it "is executable" do
      expect(File.executable?(exe)).to be(true)
    end

    it "prints the help to stdout and exits 0 for -h" do
      out, err, status = launch("-h")
      expect(status.exitstatus).to eq(0)
      expect(out).to include("Usage: iodine", "-maxbd", "WEB_CONCURRENCY")
      expect(err).to be_empty
    end

    it "exits 2 with a message and a pointer to -h for an unknown option" do
      out, err, status = launch("-bogus")
      expect(status.exitstatus).to eq(2)
      expect(out).to be_empty
      expect(err).to eq("iodine: unknown option -bogus\nrun `iodine -h` for help\n")
    end

    it "exits 2 naming the option for a bad value" do
      _out, err, status = launch("-p", "http")
      expect(status.exitstatus).to eq(2)
      expect(err).to start_with("iodine: -p expects a whole number")
    end

    it "exits 2 when there is no rackup file and no -www folder" do
      Dir.mktmpdir do |dir|
        _out, err, status = Open3.capture3(RbConfig.ruby, exe, chdir: dir)
        expect(status.exitstatus).to eq(2)
        expect(err).to include("config.ru not found")
      end
    end
  end
end
