module Iodine
  # The single-process server: loads the Go core, binds the listeners, runs
  # the Ruby threads that serve requests and stops gracefully on INT/TERM.
  module Server
    # How long a graceful stop waits for requests in flight.
    SHUTDOWN_TIMEOUT = 15

    @running = false
    @stopping = false

    class << self
      # Only in the process that started it: a child the app forked sees
      # the parent's state but must not touch its server.
      def running?
        @running && @pid == Process.pid
      end

      # Blocks until the server is stopped. ready is called once it serves.
      def run(ready: nil)
        raise Iodine::Error, "Iodine is already running" if running?
        load_core
        Iodine.run_hooks(:pre_start)
        bind_listeners
        threads = Iodine.threads
        Base.start(gomaxprocs(threads))
        Base.hub_connect(PubSub.hub_path) if PubSub.hub_path
        PubSub.started
        Connection.start_clients
        @running = true
        @pid = Process.pid
        @stop_r, @stop_w = IO.pipe
        previous = trap_stop_signals
        workers = Array.new(threads) { |i| serve_thread(i) }
        log_start(threads) unless Iodine.worker? && !Iodine.master?
        Iodine.run_hooks(:on_start)
        Timers.start(queue: true) # blocks run on the threads above
        ready&.call
        wait_for_stop
        Iodine.run_hooks(:start_shutdown)
        Timers.stop
        shut_down(workers)
        Iodine.run_hooks(:on_finish)
        nil
      ensure
        SignalGuard.restore(previous) if previous
        [@stop_r, @stop_w].each { |io| io&.close unless io&.closed? }
        @running = false
      end

      # Asks a running server to stop; safe in a trap handler or any thread.
      def stop
        return unless running?
        @stop_w.write_nonblock(".")
      rescue IO::WaitWritable, IOError
        nil
      end

      private

      def load_core
        if Base.loaded_elsewhere?
          raise Iodine::Error, "this process was forked from one that ran the iodine server; " \
                               "it cannot serve (start a new process instead)"
        end
        unless File.exist?(Iodine::CORE_PATH)
          raise Iodine::Error, "the iodine server core is missing (#{Iodine::CORE_PATH}): run `rake compile`"
        end
        Base.load_go(Iodine::CORE_PATH)
        Base.verbosity = Iodine.verbosity
        Base.script_name = ENV.fetch("SCRIPT_NAME", "")
        Base.fix_signals
      end

      # Go's scheduler threads: about cores + Ruby threads measured best (a
      # single one was 30-40% slower). IODINE_GOMAXPROCS overrides it.
      def gomaxprocs(threads)
        Integer(ENV.fetch("IODINE_GOMAXPROCS", Etc.nprocessors + threads))
      end

      def bind_listeners
        listeners = Iodine.listeners
        if listeners.empty? && !Connection.clients_waiting?
          raise Iodine::Error, "nothing to serve: call Iodine.listen(handler: app) before Iodine.start"
        end
        listeners.each do |l|
          id, port = Base.listen(l.raw? ? l.handler : NeoRack.adapt(l.handler), l.core_options)
          Connection.serve_raw(id, l.handler) if l.raw?
          l.bound_port = port
        end
      end

      def serve_thread(index)
        Thread.new do
          Thread.current.name = "iodine-#{index}"
          Base.serve
        end
      end

      def log_start(threads)
        return if Iodine.verbosity < 4
        where = Iodine.listeners.map(&:to_s).join(", ")
        where = where.empty? ? "* No listeners: clients only\n" : "* Listening on #{where}\n"
        $stderr.write("* Iodine #{Iodine::VERSION} (Go core), pid #{Process.pid}, #{threads} thread(s)\n#{where}")
      end

      def trap_stop_signals
        @stopping = false
        handlers = %w[INT TERM].to_h do |sig|
          [sig, trap(sig) { stop_signal(sig) }]
        end
        # SIGUSR1 would kill a single process; hot restart needs workers.
        if Iodine.master?
          handlers["USR1"] = trap("USR1") do
            $stderr.write("* SIGUSR1 ignored: hot restart needs cluster mode (-w 1 or more)\n")
          end
        end
        handlers
      end

      # A second INT/TERM while stopping forces the exit.
      def stop_signal(sig)
        if @stopping
          $stderr.write("* #{sig} again: exiting without waiting\n")
          exit!(1)
        end
        @stopping = true
        stop
      end

      def wait_for_stop
        @stop_r.read(1)
      end

      def shut_down(workers)
        $stderr.write("* Iodine is shutting down (pid #{Process.pid})\n") if Iodine.verbosity >= 4
        Base.stop(SHUTDOWN_TIMEOUT * 1000)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + SHUTDOWN_TIMEOUT + 2
        sleep 0.01 until Base.stopped? || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        Base.close_queue
        workers.each { |t| t.join(2) || t.kill }
      end
    end
  end

  # Serves until stopped: one process (workers 0) or a cluster master that
  # forks the workers.
  def self.start
    return Server.run if workers.zero? || worker?
    Cluster.new(workers, preload: preload, hot_restart: hot_restart).run
    nil
  end

  def self.stop
    Server.stop
  end

  def self.running?
    Server.running?
  end
end
