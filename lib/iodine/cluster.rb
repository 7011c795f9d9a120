module Iodine
  # The cluster master. It is plain Ruby and never loads the Go core, which
  # does not survive fork. It binds the sockets, forks the workers (see
  # worker.rb), replaces those that die, rolls them over on SIGUSR1 (hot
  # restart) and stops them gracefully on SIGINT/SIGTERM.
  class Cluster
    # How long new workers may take to start before the old ones retire anyway.
    READY_TIMEOUT = 60
    # A worker that dies younger than this counts as crashing: respawns back off.
    CRASH_AGE = 5
    BACKOFF_MAX = 30
    TICK = 0.25

    Handle = Struct.new(:pid, :generation, :started_at, :ready, :retiring, :slot)

    def initialize(count, preload: false, hot_restart: nil)
      @count = count
      @preload = preload
      @hot_restart = hot_restart
      @workers = {}
      @generation = 0
      @backoff = 0
      @respawn_at = 0
      @stopping = false
    end

    def run
      Iodine.listeners.each(&:bind_socket)
      # Slots on the load board: room for a hot restart's two generations.
      @free_slots = (0...(2 * @count + 2)).to_a
      Base.board_create(@free_slots.size)
      Iodine.listeners.each(&:handler) if @preload # copy-on-write for every worker
      Iodine.run_hooks(:pre_start)
      @signal_r, @signal_w = IO.pipe
      @ready_r, @ready_w = IO.pipe
      previous = trap_signals
      log_start
      @hub = PubSubHub.new(self)
      PubSub.hub_path = @hub.path # workers link to it after the fork
      @hub.spawn
      spawn_generation
      Iodine.run_hooks(:enter_master)
      Timers.start
      supervise
      0
    ensure
      @hub&.stop
      SignalGuard.restore(previous) if previous
      Timers.stop
      Iodine.listeners.each(&:close_socket)
      [@signal_r, @signal_w, @ready_r, @ready_w].each { |io| io.close if io && !io.closed? }
      Iodine.run_hooks(:on_finish) if @stopping
    end

    # What a worker needs to close after the fork: the master's own pipes.
    def master_ios
      [@signal_r, @signal_w, @ready_r]
    end

    attr_reader :ready_w

    private

    def supervise
      restart_every = @hot_restart&.positive? ? @hot_restart : nil
      next_restart = restart_every && now + restart_every
      until @stopping && @workers.empty?
        readable, = IO.select([@signal_r, @ready_r], nil, nil, TICK)
        handle_signals if readable&.include?(@signal_r)
        note_ready if readable&.include?(@ready_r)
        reap
        if @stopping
          force_stop if now > @stop_deadline
        else
          retire_old_generation
          respawn_missing
          if next_restart && now >= next_restart
            hot_restart
            next_restart = now + restart_every
          end
        end
      end
    end

    # ---- signals ------------------------------------------------------

    def trap_signals
      %w[INT TERM USR1 CHLD].to_h do |sig|
        [sig, trap(sig) { @signal_w.write_nonblock("#{sig}\n", exception: false) }]
      end
    end

    def handle_signals
      @signal_r.read_nonblock(4096, exception: false).to_s.split("\n").each do |sig|
        case sig
        when "INT", "TERM" then stop(sig)
        when "USR1" then hot_restart unless @stopping
        end
      end
    end

    def stop(sig)
      if @stopping
        log "#{sig} again: killing the workers without waiting"
        force_stop
        return
      end
      @stopping = true
      @stop_deadline = now + Server::SHUTDOWN_TIMEOUT + 5
      log "shutting down (#{sig}); waiting for #{@workers.size} worker(s) to finish their requests"
      Iodine.run_hooks(:start_shutdown)
      signal_workers(@workers.keys, "TERM")
    end

    def force_stop
      signal_workers(@workers.keys, "KILL")
      @workers.each_key { |pid| Process.wait(pid) rescue nil } # rubocop:disable Style/RescueModifier
      @workers.clear
    end

    def signal_workers(pids, sig)
      pids.each do |pid|
        Process.kill(sig, pid)
      rescue Errno::ESRCH
        nil
      end
    end

    # ---- workers ------------------------------------------------------

    def spawn_generation
      @count.times { spawn_worker }
    end

    def spawn_worker
      slot = @free_slots.shift || -1
      Base.board_clear(slot)
      Iodine.run_hooks(:before_fork)
      pid = fork { Worker.new(self, slot).run }
      Iodine.run_hooks(:after_fork)
      @workers[pid] = Handle.new(pid, @generation, now, false, false, slot)
      log "worker #{pid} started (generation #{@generation})" if Iodine.verbosity >= 5
    end

    def release_slot(slot)
      return if slot.negative?
      Base.board_clear(slot)
      @free_slots.push(slot).sort!
    end

    def note_ready
      @ready_r.read_nonblock(4096, exception: false).to_s.split("\n").each do |pid|
        handle = @workers[pid.to_i]
        handle.ready = true if handle
      end
    end

    def reap
      loop do
        pid, status = Process.wait2(-1, Process::WNOHANG)
        break unless pid
        next hub_exited(status) if pid == @hub&.pid
        handle = @workers.delete(pid)
        next unless handle
        release_slot(handle.slot)
        report_exit(handle, status)
        note_crash(handle) if handle.generation == @generation && !@stopping
      end
    rescue Errno::ECHILD
      nil
    end

    def report_exit(handle, status)
      retired = handle.generation < @generation || @stopping
      return if retired && status.success? && Iodine.verbosity < 5
      how = status.signaled? ? "killed by signal #{status.termsig}" : "exited with status #{status.exitstatus}"
      level = retired || status.success? ? "" : "ERROR: "
      log "#{level}worker #{handle.pid} #{how}#{retired ? "" : "; replacing it"}"
    end

    # Replacements of workers that die young back off exponentially, so a
    # worker that crashes at start is not respawned in a tight loop.
    def note_crash(handle)
      if now - handle.started_at < CRASH_AGE
        @backoff = @backoff.zero? ? 0.5 : [@backoff * 2, BACKOFF_MAX].min
        log "worker #{handle.pid} died #{format("%.1f", now - handle.started_at)}s after start; " \
            "next one in #{@backoff}s"
      else
        @backoff = 0
      end
      @respawn_at = now + @backoff
    end

    def respawn_missing
      return if now < @respawn_at
      missing = @count - @workers.values.count { |h| h.generation == @generation }
      missing.times { spawn_worker }
    end

    # The pub/sub hub died: replace it; the workers reconnect on their own.
    def hub_exited(status)
      return if @stopping
      how = status.signaled? ? "killed by signal #{status.termsig}" : "exited with status #{status.exitstatus}"
      log "ERROR: pub/sub hub #{@hub.pid} #{how}; replacing it"
      @hub.spawn
    end

    # ---- hot restart --------------------------------------------------

    # New workers load the app afresh (unless preloaded); the old ones
    # retire, finishing their requests, once the new ones are serving.
    def hot_restart
      @generation += 1
      @restart_started = now
      @backoff = 0
      @respawn_at = 0
      log "hot restart: starting #{@count} new worker(s)"
      spawn_generation
    end

    def retire_old_generation
      old = @workers.values.select { |h| h.generation < @generation && !h.retiring }
      return if old.empty?
      current = @workers.values.select { |h| h.generation == @generation }
      ready = current.count(&:ready) >= @count
      return unless ready || now - @restart_started > READY_TIMEOUT
      old_pids = old.map(&:pid)
      log "hot restart: retiring worker(s) #{old_pids.join(", ")}"
      signal_workers(old_pids, "TERM") # asked once: a second TERM would cut them short
      old.each { |h| h.retiring = true }
    end

    # ---- helpers ------------------------------------------------------

    def log_start
      return if Iodine.verbosity < 4
      $stderr.write("* Iodine #{Iodine::VERSION} (Go core) master #{Process.pid}: #{@count} worker(s) x " \
                    "#{Iodine.threads} thread(s)#{@preload ? ", app preloaded" : ""}\n" \
                    "* Listening on #{Iodine.listeners.map(&:to_s).join(", ")}\n")
    end

    def log(message)
      $stderr.write("* master #{Process.pid}: #{message}\n") if Iodine.verbosity >= 3
    end

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
