# Iodine: a fast Rack server whose network core is Go (fasthttp), bridged to
# Ruby by a thin C extension. `require "iodine"` loads only the C glue; the
# Go runtime starts in Iodine.start (see iodine/server.rb), in the process
# that serves, because it does not survive a fork.
require "etc"
require "stringio"
require "socket"

require_relative "iodine/version"

module Iodine
  class Error < StandardError; end
end

require_relative "iodine/iodine_ext"
require_relative "iodine/hooks"
require_relative "iodine/signals"
require_relative "iodine/address"
require_relative "iodine/listener"
require_relative "iodine/timers"
require_relative "iodine/connection"
require_relative "iodine/client"
require_relative "iodine/neorack"
require_relative "iodine/pubsub"
require_relative "iodine/pubsub_hub"
require_relative "iodine/server"
require_relative "iodine/worker"
require_relative "iodine/cluster"
require_relative "iodine/rack_handler" if File.exist?(File.expand_path("iodine/rack_handler.rb", __dir__))

module Iodine
  # Where the Go core was built (lib/iodine/libiodine_go.so).
  CORE_PATH = File.expand_path("iodine/libiodine_go.so", __dir__)

  # Negative counts mean "cores / abs(n)", as in iodine; 0 or nil is auto.
  def self.resolve_count(n, auto)
    n = Integer(n) if n.is_a?(String)
    return auto if n.nil? || n.zero?
    return [Etc.nprocessors / -n, 1].max if n.negative?
    n
  end

  @threads = ENV["THREADS"]&.to_i
  @workers = ENV["WORKERS"]&.to_i
  @verbosity = 4
  @listeners = []

  class << self
    # Ruby threads per process serving requests (default: 5, as Puma/Rails).
    def threads
      Iodine.resolve_count(@threads, 5)
    end

    def threads=(n)
      raise ArgumentError, "threads must be an Integer, got #{n.inspect}" unless n.nil? || n.is_a?(Integer)
      @threads = n
    end

    # Worker processes; 0 is a single process.
    def workers
      Iodine.resolve_count(@workers, 0)
    end

    def workers=(n)
      raise ArgumentError, "workers must be an Integer, got #{n.inspect}" unless n.nil? || n.is_a?(Integer)
      @workers = n
    end

    attr_reader :verbosity

    # 0 silent .. 5 debug; 4 (info) by default.
    def verbosity=(level)
      level = Integer(level)
      raise ArgumentError, "verbosity must be 0..5, got #{level}" unless (0..5).cover?(level)
      @verbosity = level
      Base.verbosity = level
    end

    # Registers a listener; it binds when the server starts. A block may
    # stand for the handler. Settings come as keywords or, as in iodine 0.7,
    # one Hash. Returns the Iodine::Listener.
    def listen(settings = nil, **options, &block)
      listener = Listener.new(**with_settings(:listen, settings, options), &block)
      @listeners << listener
      listener
    end

    def listeners
      @listeners.dup
    end

    # Cluster mode: load the app once in the master before forking.
    attr_accessor :preload
    # Cluster mode: roll the workers over every this many seconds.
    attr_accessor :hot_restart

    # A single process is both master and worker, as in iodine.
    def master?
      !@worker
    end

    def worker?
      @worker || workers.zero?
    end

    # Called in a freshly forked cluster worker.
    def become_worker
      @worker = true
    end

    private

    # iodine 0.7's calls took their settings as one Hash: merged with the
    # keywords given beside it.
    def with_settings(method, settings, options)
      return options if settings.nil?
      raise ArgumentError, "Iodine.#{method} takes a Hash of settings, got #{settings.inspect}" unless settings.is_a?(Hash)

      settings.transform_keys(&:to_sym).merge(options)
    end
  end

  # Logs an exception and the top of its backtrace:
  # "ERROR: <prefix>Class: message<suffix>".
  def self.log_error(error, prefix: "", suffix: "", frames: 20)
    trace = (error.backtrace || []).first(frames).map { |l| "    #{l}\n" }.join
    $stderr.write("ERROR: #{prefix}#{error.class}: #{error.message}#{suffix}\n#{trace}")
  end

  # Called by the C glue with an exception the app raised.
  def Base.log_exception(error, env)
    where = env ? "#{env["REQUEST_METHOD"]} #{env["PATH_INFO"]}" : "a request"
    Iodine.log_error(error, suffix: " (while serving #{where})", frames: 30)
  rescue StandardError
    nil
  end
end
