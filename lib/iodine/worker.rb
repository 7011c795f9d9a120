module Iodine
  # A cluster worker: what a forked child does. It drops the master's
  # signal handling, loads the app (unless the master preloaded it), loads
  # the Go core and serves the sockets the master bound, until SIGTERM (a
  # graceful stop), SIGINT (the same; the master replaces it) or the
  # master's death.
  class Worker
    def initialize(cluster, slot)
      @cluster = cluster
      @slot = slot
      @master_pid = Process.ppid
    end

    # Never returns: the worker ends with exit! so the master's at_exit
    # handlers (its pid file, for one) do not run here.
    def run
      %w[INT TERM USR1 CHLD].each { |sig| trap(sig, "DEFAULT") }
      @cluster.master_ios.each { |io| io.close unless io.closed? }
      Iodine.become_worker
      Timers.forked
      Iodine.run_hooks(:after_fork)
      Iodine.run_hooks(:enter_child)
      Iodine.listeners.each(&:handler)
      Base.multiprocess = true
      Base.board_slot = @slot
      watch_master
      Server.run(ready: -> { announce_ready })
      finish(0)
    rescue Exception => e # rubocop:disable Lint/RescueException
      unless e.is_a?(SystemExit) || e.is_a?(Interrupt)
        Iodine.log_error(e, prefix: "worker #{Process.pid} failed: ", frames: 15)
      end
      finish(e.is_a?(SystemExit) ? e.status : 1)
    end

    private

    def finish(status)
      $stdout.flush
      $stderr.flush
      exit!(status)
    end

    def announce_ready
      @cluster.ready_w.write("#{Process.pid}\n")
    rescue IOError, SystemCallError
      nil
    end

    # A worker whose master died (kill -9) stops instead of living on.
    def watch_master
      Thread.new do
        Thread.current.name = "iodine-watch"
        sleep 0.5 while Process.ppid == @master_pid
        $stderr.write("* worker #{Process.pid}: the master (#{@master_pid}) is gone; stopping\n")
        loop do # the server may still be starting
          Iodine.stop
          sleep 0.5
        end
      end
    end
  end
end
