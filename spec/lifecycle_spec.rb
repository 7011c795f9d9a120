# frozen_string_literal: true

require "spec_helper"
require "pty"

# Issue 2, point 4: running it — graceful stop on SIGTERM/SIGINT and Ctrl-C,
# the pid file, environment variables, CLI errors and `rackup -s iodine`.
RSpec.describe "Running the server" do
  around(:each) do |example|
    @dir = Dir.mktmpdir("iodine-lifecycle-spec")
    example.run
  ensure
    FileUtils.rm_rf(@dir)
  end

  def launch(app = "app.ru", **opts)
    opts[:env] = { "IODINE_SPEC_DIR" => @dir }.merge(opts[:env] || {})
    @server = IodineSpec::Server.launch(app, **opts)
  end

  after(:each) do |example|
    warn @server.output if example.exception && @server
    @server&.cleanup
    @server = nil
  end

  %w[TERM INT].each do |sig|
    it "finishes an in-flight request on SIG#{sig}, then exits 0" do
      launch(threads: 2)
      port = @server.port
      slow = Thread.new { get(port, "/slow", timeout: 15) }
      started = wait_until(timeout: 5) { File.exist?(File.join(@dir, "slow_started")) }
      expect(started).to be_truthy
      @server.signal(sig)
      expect(slow.join(10)).to be_truthy
      res = slow.value
      expect(res.code).to eq("200")
      expect(res.body).to eq("slow done")
      status = @server.wait(timeout: 10)
      expect(status).not_to be_nil
      expect(status.exitstatus).to eq(0)
      expect(IodineSpec.port_open?(port)).to be(false)
    end
  end

  it "does not wait for idle keep-alive connections to stop" do
    launch("hello.ru", threads: 1)
    raw_client(@server.port) do |c|
      c.request("GET", "/")
      expect(c.read_response.status).to eq(200)
      started = now
      @server.signal("TERM")
      status = @server.wait(timeout: 10)
      expect(status&.exitstatus).to eq(0)
      expect(now - started).to be < 5
    end
  end

  it "stops on Ctrl-C in a terminal and exits 0" do
    port = free_port
    cmd = [IodineSpec::RUBY, IodineSpec::LAUNCHER, "-p", port.to_s, "-b", "127.0.0.1",
           "-t", "1", "-w", "0", fixture("hello.ru")]
    reader, writer, pid = PTY.spawn({ "RACK_ENV" => "production" }, *cmd, chdir: IodineSpec::ROOT)
    output = +""
    drain = Thread.new do
      loop { output << reader.readpartial(4096) }
    rescue Errno::EIO, IOError # EOFError too
      nil
    end
    begin
      expect(wait_until(timeout: 10) { IodineSpec.port_open?(port) }).to be(true)
      expect(get(port, "/").body).to eq("Hello from Rack!")
      writer.write("\x03")
      writer.flush
      status = IodineSpec.wait_pid(pid, 10)
      expect(status).not_to be_nil, "no exit after Ctrl-C; terminal output:\n#{output}"
      expect(status.exitstatus).to eq(0), "terminal output:\n#{output}"
    ensure
      IodineSpec.terminate(pid, signal: "KILL", timeout: 5) if IodineSpec.wait_pid(pid, 0).nil?
      drain.join(2)
      reader.close
      writer.close
    end
  end

  it "writes the -pid file and removes it at exit" do
    pidfile = File.join(@dir, "iodine.pid")
    launch("hello.ru", threads: 1, flags: ["-pid", pidfile])
    expect(wait_until(timeout: 5) { File.exist?(pidfile) && !File.read(pidfile).strip.empty? }).to be(true)
    expect(File.read(pidfile).strip).to eq(@server.pid.to_s)
    status = @server.stop
    expect(status&.exitstatus).to eq(0)
    expect(File.exist?(pidfile)).to be(false)
  end

  it "takes the port and address from PORT and ADDRESS" do
    port = free_port
    cmd = [IodineSpec::RUBY, IodineSpec::LAUNCHER, "-t", "1", "-w", "0", fixture("hello.ru")]
    @server = IodineSpec::Server.new(cmd, port: port, env: { "PORT" => port.to_s, "ADDRESS" => "127.0.0.1" })
    @server.start
    expect(get(port, "/").body).to eq("Hello from Rack!")
  end

  it "refuses an unknown flag with a clear message and a non-zero exit" do
    out, err, status = IodineSpec.run_command({ "RACK_ENV" => "production" }, IodineSpec::RUBY,
                                              IodineSpec::LAUNCHER, "-no-such-flag",
                                              "-p", free_port.to_s, "-b", "127.0.0.1",
                                              fixture("hello.ru"), timeout: 10)
    expect(status).not_to be_nil, "still running after 10 s: #{out}#{err}"
    expect(status.success?).to be(false)
    expect(err).to include("no-such-flag")
  end

  it "refuses a bad value with a clear message and a non-zero exit" do
    _out, err, status = IodineSpec.run_command({ "RACK_ENV" => "production" }, IodineSpec::RUBY,
                                               IodineSpec::LAUNCHER, "-p", "not-a-port", "-b", "127.0.0.1",
                                               fixture("hello.ru"), timeout: 10)
    expect(status).not_to be_nil
    expect(status.success?).to be(false)
    expect(err).to include("not-a-port")
  end

  describe "rackup -s iodine" do
    it "finds Rack::Handler::Iodine" do
      code = 'require "rack"; h = Rack::Handler.get("iodine"); ' \
             'print h.equal?(Rack::Handler::Iodine), " ", h.respond_to?(:run)'
      out, err, status = IodineSpec.run_command({}, IodineSpec::RUBY, "-Ilib", "-e", code, timeout: 20)
      expect(status&.success?).to be(true), err
      expect(out).to eq("true true")
    end

    it "serves the app (development: Rack::Lint and CommonLogger in front) and stops on TERM" do
      rackup = ENV.fetch("PATH", "").split(":").map { |d| File.join(d, "rackup") }.find { |f| File.executable?(f) }
      expect(rackup).not_to be_nil, "Rack 2's rackup binary is not installed (Debian's ruby-rack)"
      port = free_port
      cmd = [rackup, "-I", File.join(IodineSpec::ROOT, "lib"), "-s", "iodine", "-o", "127.0.0.1",
             "-p", port.to_s, fixture("hello.ru")]
      @server = IodineSpec::Server.new(cmd, port: port, env: { "RACK_ENV" => "development" })
      @server.start
      res = get(port, "/")
      expect(res.code).to eq("200")
      expect(res.body).to eq("Hello from Rack!")
      # CommonLogger writes to env["rack.errors"], which must reach stderr.
      expect(@server.wait_for_log(%r{"GET / HTTP/1\.1" 200})).to be_truthy
      expect(@server.stderr).not_to match(/LintError/)
      status = @server.stop
      expect(status&.exitstatus).to eq(0)
      expect(@server.killed?).to be(false)
    end
  end
end
