# frozen_string_literal: true

require_relative "listener_settings"

module Iodine
  # The `iodine` command line: `iodine [options] [rackup file]`.
  #
  # CLI.parse turns argv + environment into a plain options Hash and touches nothing; it only reads
  # the file system to check that named files exist. CLI#run is the part with side effects: it loads
  # the app and starts the server. Nothing from lib/iodine.rb is needed until #run, so `iodine -h`
  # and usage errors work even before the extension is built.
  class CLI
    # A bad command line or environment value; the launcher prints it and exits 2.
    class UsageError < StandardError; end

    # One command-line option: every name it answers to, the options key it sets, how its value is
    # checked (type), the value's placeholder in the help text, a description and the default shown.
    Flag = Struct.new(:names, :key, :type, :placeholder, :description, :default_text)

    # A listener setting's default, as the help text shows it (listener_settings.rb owns them).
    def self.listener_default(name) = ListenerSettings::DEFAULTS.fetch(name).to_s

    # Grouped as the help text shows them; names are iodine 0.7's short names and 0.8's long ones.
    FLAG_GROUPS = {
      "Address binding" => [
        Flag.new(%w[-b -bind -address], :address, :string, "ADDR",
                 "address to listen on; a leading / or ./ means a Unix socket", "all interfaces"),
        Flag.new(%w[-p -port], :port, :port, "PORT", "TCP port; 0 with a Unix socket", "$PORT or 3000")
      ],
      "Concurrency" => [
        Flag.new(%w[-t -threads], :threads, :integer, "N",
                 "Ruby threads per process; negative = cores / abs(N)", "auto"),
        Flag.new(%w[-w -workers], :workers, :integer, "N",
                 "processes; negative = cores / abs(N); 0 = single process", "auto")
      ],
      "HTTP" => [
        Flag.new(%w[-www -public], :public, :string, "DIR", "folder of static files to serve", "none"),
        Flag.new(%w[-v -log], :log, :switch, nil, "log every request", "off"),
        Flag.new(%w[-k -keep-alive -tout], :keep_alive, :count, "SEC", "keep-alive timeout, seconds", listener_default(:timeout)),
        Flag.new(%w[-maxbd -max-body], :max_body, :count, "MB", "upload (request body) limit, MB", listener_default(:max_body)),
        Flag.new(%w[-maxhd -max-header -max-headers], :max_headers, :count, "KB",
                 "total request header size limit, KB", listener_default(:max_headers)),
        Flag.new(%w[-maxln -max-line], :max_line, :count, "BYTES", "one header line limit, bytes", listener_default(:max_line)),
        Flag.new(%w[-maxage -max-age], :max_age, :count, "SEC",
                 "static files' Cache-Control max-age, seconds", listener_default(:max_age))
      ],
      "WebSocket / SSE" => [
        Flag.new(%w[-maxms -max-msg], :max_msg, :count, "KB", "incoming WebSocket message limit, KB", listener_default(:max_msg)),
        Flag.new(%w[-ping], :ping, :count, "SEC", "WebSocket / SSE ping interval, seconds", listener_default(:ping))
      ],
      "TLS" => [
        Flag.new(%w[-tls], :tls, :switch, nil, "TLS with a self-signed certificate", "off"),
        Flag.new(%w[-tls-cert -cert], :tls_cert, :string, "FILE", "TLS certificate file (implies -tls)", "none"),
        Flag.new(%w[-tls-key -key], :tls_key, :string, "FILE", "TLS private key file (implies -tls)", "none"),
        Flag.new(%w[-tls-pass -tls-password], :tls_pass, :string, "PASS", "password of the private key", "none")
      ],
      "Pub/Sub" => [
        Flag.new(%w[-r -redis], :redis, :string, "URL", "Redis server for cluster pub/sub", "$IODINE_REDIS_URL or none"),
        Flag.new(%w[-rp -redis-ping], :redis_ping, :count, "SEC", "Redis ping interval, seconds", "300")
      ],
      "Process" => [
        Flag.new(%w[-C -config], :config, :string, "FILE", "Ruby file loaded before the app", "none"),
        Flag.new(%w[-pid -pidfile], :pid, :string, "FILE", "pid file (a path ending in / gets iodine.pid)", "none"),
        Flag.new(%w[-V -verbosity], :verbosity, :verbosity, "0..5", "log verbosity", "4"),
        Flag.new(%w[-warmup --preload], :preload, :switch, nil, "load the app in the master before forking", "off"),
        Flag.new(%w[-hr --hot-restart], :hot_restart, :count, "SEC", "restart the workers every SEC seconds", "off")
      ]
    }.freeze

    # Looked up by name with a single leading dash: "--name" and "-name" are the same option.
    FLAGS_BY_NAME = FLAG_GROUPS.values.flatten.flat_map do |flag|
      flag.names.map { |name| [name.sub(/\A--/, "-"), flag] }
    end.to_h.freeze

    HELP_NAMES = %w[-h -help --help -? --?].freeze

    # Every key parse returns, with the value used when neither the CLI nor the environment sets it.
    DEFAULTS = {
      address: nil, port: 3000, threads: nil, workers: nil,
      public: nil, log: false, keep_alive: ListenerSettings::DEFAULTS[:timeout],
      **ListenerSettings::DEFAULTS.slice(:max_body, :max_headers, :max_line, :max_age, :max_msg, :ping),
      tls: false, tls_cert: nil, tls_key: nil, tls_pass: nil,
      redis: nil, redis_ping: 300,
      config: nil, pid: nil, verbosity: 4, preload: false, hot_restart: nil,
      rackup: "config.ru", environment: nil, help: false
    }.freeze

    # Environment variables per key, most specific first: the first one set wins.
    ENV_SOURCES = {
      port: %w[PORT],
      address: %w[ADDRESS],
      threads: %w[THREADS RAILS_MAX_THREADS],
      workers: %w[WORKERS WEB_CONCURRENCY],
      redis: %w[IODINE_REDIS_URL]
    }.freeze

    # Where descriptions start in the help text.
    HELP_COLUMN = 36

    # What a switch accepts after "=" (`-v=0`); bare `-v` means true.
    SWITCH_VALUES = {
      "1" => true, "true" => true, "yes" => true, "on" => true,
      "0" => false, "false" => false, "no" => false, "off" => false
    }.freeze

    class << self
      # argv + env -> options Hash (see DEFAULTS for the keys). Raises UsageError.
      def parse(argv, env = ENV)
        args = argv.map(&:to_s)
        return DEFAULTS.merge(help: true) if args.any? { |arg| HELP_NAMES.include?(arg) }

        from_cli, rackup = parse_args(args)
        options = DEFAULTS.merge(from_env(env)).merge(from_cli)
        options[:environment] = env["RACK_ENV"] unless blank?(env["RACK_ENV"])
        options[:rackup] = rackup if rackup
        finish(options, rackup_given: !rackup.nil?)
      end

      # The `iodine -h` text: every flag with its default, grouped, then the environment variables.
      def help
        lines = ["Usage: iodine [options] [rackup file]    (rackup file default: config.ru)",
                 "Options take a value as `-p 3000` or `-p=3000`; long names may also start with --."]
        FLAG_GROUPS.each do |group, flags|
          lines << "" << "#{group}:"
          flags.each do |flag|
            usage = [flag.names.join(", "), flag.placeholder].compact.join(" ")
            lines << help_line(usage, "#{flag.description} [default: #{flag.default_text}]")
          end
        end
        lines << "" << "Other:" << help_line("-h, -help, -?", "print this help")
        lines << "" << "Environment (the command line wins over it):"
        lines << help_line("PORT, ADDRESS", "port and address")
        lines << help_line("THREADS, RAILS_MAX_THREADS", "threads (THREADS first)")
        lines << help_line("WORKERS, WEB_CONCURRENCY", "workers (WORKERS first)")
        lines << help_line("IODINE_REDIS_URL", "Redis URL")
        lines << help_line("RACK_ENV", "Rack environment, left to the app")
        lines << help_line("SCRIPT_NAME", "path the app is mounted at (its SCRIPT_NAME)")
        lines.join("\n") << "\n"
      end

      # A leading "/" or "./" names a Unix socket rather than a host.
      def unix_socket?(address)
        !address.nil? && address.start_with?("/", "./")
      end

      # The launcher's entry point: runs the CLI and turns usage errors into exit status 2.
      def start(argv = ARGV, env = ENV, out: $stdout, err: $stderr)
        new(argv, env, out: out, err: err).run
      rescue UsageError => e
        err.puts "iodine: #{e.message}", "run `iodine -h` for help"
        2
      rescue StandardError => e
        # A server error (such as a port in use) deserves one clear line, not a backtrace.
        raise unless defined?(Iodine::Error) && e.is_a?(Iodine::Error)

        err.puts "iodine: #{e.message}"
        1
      end

      private

      def help_line(usage, description)
        "  #{usage.ljust(HELP_COLUMN)} #{description}"
      end

      # Walks argv: returns [{key => value}, rackup file or nil].
      def parse_args(args)
        given = {}
        files = []
        queue = args.dup
        until queue.empty?
          arg = queue.shift
          if arg == "--"
            files.concat(queue)
            break
          elsif option?(arg)
            key, value = read_option(arg, queue)
            given[key] = value
          else
            files << arg
          end
        end
        raise UsageError, "more than one rackup file given: #{files.join(", ")}" if files.size > 1

        [given, files.first]
      end

      # "-name", "-name=value" or "-name value" (taking the value off the queue) -> [key, value].
      def read_option(arg, queue)
        name, inline_value = arg.split("=", 2)
        flag = FLAGS_BY_NAME[name.sub(/\A--/, "-")]
        raise UsageError, "unknown option #{name}" unless flag
        return [flag.key, inline_value.nil? || switch_value(name, inline_value)] if flag.type == :switch

        value = inline_value
        if value.nil?
          raise UsageError, "#{name} needs a value (#{flag.placeholder})" if queue.empty? || option?(queue.first)

          value = queue.shift
        end
        [flag.key, convert(flag.type, name, value)]
      end

      # "-x" is an option; "-", "-2" (a negative number for -t/-w) and "file" are not.
      def option?(arg)
        arg.start_with?("-") && arg != "-" && !arg.match?(/\A-\d+\z/)
      end

      def switch_value(name, text)
        SWITCH_VALUES.fetch(text.downcase) do
          raise UsageError, "#{name} takes no value or one of 1/0, true/false, got #{text.inspect}"
        end
      end

      def from_env(env)
        ENV_SOURCES.each_with_object({}) do |(key, names), found|
          name = names.find { |candidate| !blank?(env[candidate]) }
          next unless name

          type = FLAGS_BY_NAME.values.find { |flag| flag.key == key }.type
          found[key] = convert(type, name, env[name])
        end
      end

      # Checks a value by its flag's type; `source` (the flag or variable name) goes into the message.
      def convert(type, source, text)
        case type
        when :string
          raise UsageError, "#{source} needs a non-empty value" if text.strip.empty?

          text
        when :integer then integer(source, text)
        when :count
          number = integer(source, text)
          raise UsageError, "#{source} must be 0 or more, got #{number}" if number.negative?

          number
        when :port
          number = integer(source, text)
          raise UsageError, "#{source} must be a port number 0..65535, got #{number}" unless (0..65_535).cover?(number)

          number
        when :verbosity
          number = integer(source, text)
          raise UsageError, "#{source} must be 0..5, got #{number}" unless (0..5).cover?(number)

          number
        end
      end

      def integer(source, text)
        Integer(text, 10)
      rescue ArgumentError, TypeError
        raise UsageError, "#{source} expects a whole number, got #{text.inspect}"
      end

      # Rules that tie options together, and the file checks.
      def finish(options, rackup_given:)
        options[:port] = 0 if unix_socket?(options[:address])
        options[:tls] = true if options[:tls_cert] || options[:tls_key]
        if (pid = options[:pid])
          pid += "iodine.pid" if pid.end_with?("/")
          raise UsageError, "-pid: #{pid} is a directory, not a file" if File.directory?(pid)

          options[:pid] = pid
        end
        if options[:config] && !File.file?(options[:config])
          raise UsageError, "-C: config file #{options[:config]} not found"
        end
        if options[:public] && !File.directory?(options[:public])
          raise UsageError, "-www: folder #{options[:public]} not found"
        end
        # The default config.ru may be missing (run serves -www alone then); a named file may not.
        if rackup_given && !File.file?(options[:rackup])
          raise UsageError, "rackup file #{options[:rackup]} not found"
        end
        options
      end

      def blank?(value)
        value.nil? || value.strip.empty?
      end
    end

    # With -www and no rackup file, Go serves the folder and Ruby only sees what is not in it.
    NOT_FOUND_APP = ->(_env) { [404, { "Content-Type" => "text/plain" }, ["Not Found"]] }

    def initialize(argv = ARGV, env = ENV, out: $stdout, err: $stderr)
      @argv = argv
      @env = env
      @out = out
      @err = err
    end

    # Parses, loads the app, starts the server and blocks until it stops; returns the exit status.
    def run
      options = self.class.parse(@argv, @env)
      if options[:help]
        @out.print self.class.help
        return 0
      end
      serve_static_only = check_rackup_file(options)

      require "iodine"
      Iodine.verbosity = options[:verbosity]
      load File.expand_path(options[:config]) if options[:config] # in the master, before the app
      write_pid_file(options[:pid]) if options[:pid]
      warn_unsupported(options)
      Iodine.threads = options[:threads] unless options[:threads].nil?
      Iodine.workers = options[:workers] unless options[:workers].nil?
      Iodine.preload = true if options[:preload]
      Iodine.hot_restart = options[:hot_restart] if options[:hot_restart]
      rackup = options[:rackup]
      loader = serve_static_only ? -> { NOT_FOUND_APP } : -> { load_app(rackup) }
      # A cluster loads the app in each worker, after the fork (so a hot
      # restart serves changed code), unless it is preloaded.
      lazy = Iodine.workers.positive? && !Iodine.preload
      listen(options, lazy ? { loader: loader } : { handler: loader.call })
      Iodine.start
      0
    end

    private

    # True when there is no rackup file but a -www folder to serve; raises when there is neither.
    def check_rackup_file(options)
      return false if File.file?(options[:rackup])
      return true if options[:public]

      raise UsageError, "rackup file #{options[:rackup]} not found (name one, or serve a folder with -www)"
    end

    # Rack 2 returns [app, options] here, Rack 3 the app alone.
    def load_app(rackup)
      require "rack"
      require "rack/builder"
      # An absolute path lets require_relative and __dir__ inside config.ru resolve.
      app = ::Rack::Builder.parse_file(File.expand_path(rackup))
      app.is_a?(Array) ? app.first : app
    end

    def write_pid_file(path)
      owner = Process.pid
      File.write(path, "#{owner}\n")
      # Only the process that wrote it removes it: forked children run at_exit handlers too.
      at_exit do
        File.delete(path) if Process.pid == owner && File.file?(path) && File.read(path).to_i == owner
      rescue SystemCallError
        nil
      end
    rescue SystemCallError => e
      raise UsageError, "-pid: cannot write #{path}: #{e.message}"
    end

    def listen(options, app)
      unix = self.class.unix_socket?(options[:address])
      settings = {
        address: options[:address], port: (unix ? nil : options[:port]), **app,
        public: options[:public], log: options[:log], max_body: options[:max_body],
        max_headers: options[:max_headers], max_line: options[:max_line], timeout: options[:keep_alive],
        max_msg: options[:max_msg], ping: options[:ping], max_age: options[:max_age]
      }.compact
      Iodine.listen(**settings)
    rescue ArgumentError => e
      raise UsageError, e.message
    end

    # Parsed and stored now, built later; say so for the ones whose absence changes what clients get.
    def warn_unsupported(options)
      @err.puts "iodine: TLS is not supported yet; serving plain HTTP" if options[:tls]
      @err.puts "iodine: Redis pub/sub is not supported yet; pub/sub stays within this process" if options[:redis]
    end
  end
end
