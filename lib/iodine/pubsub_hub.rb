require "securerandom"
require "tmpdir"

module Iodine
  # The cluster's pub/sub relay: a child of the master, forked like a worker,
  # that loads the Go core and serves no HTTP. Workers link to its Unix
  # socket; it hands every cluster-wide message to every worker (see
  # go/pubsub_cluster.go). The master, which never loads Go, only starts,
  # replaces and stops it.
  class PubSubHub
    attr_reader :pid, :path

    def initialize(cluster)
      @cluster = cluster
      @path = File.join(Dir.tmpdir, "iodine-pubsub-#{Process.pid}-#{SecureRandom.hex(4)}.sock")
    end

    def spawn
      @pid = fork { serve }
    end

    # Stops it once the workers are gone; bounded, then killed.
    def stop
      return unless @pid
      Process.kill("TERM", @pid)
      waited = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 5
      until Process.wait(@pid, Process::WNOHANG)
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > waited
          Process.kill("KILL", @pid)
          Process.wait(@pid)
          break
        end
        sleep 0.02
      end
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    ensure
      @pid = nil
      File.unlink(@path) if File.socket?(@path)
    end

    private

    # In the child: serve until TERM or until the master is gone. INT (a
    # Ctrl-C reaches the whole process group) is the master's to handle.
    def serve
      master = Process.ppid
      @cluster.master_ios.each { |io| io.close unless io.closed? }
      Iodine.listeners.each { |l| l.socket&.close } # the master's to keep
      trap("INT", "IGNORE")
      %w[USR1 CHLD].each { |sig| trap(sig, "DEFAULT") }
      done = false
      trap("TERM") { done = true }
      $0 = "iodine pub/sub hub (master #{master})"
      Base.load_go(Iodine::CORE_PATH)
      Base.verbosity = Iodine.verbosity
      Base.fix_signals
      Base.hub_serve(@path)
      sleep 0.2 until done || Process.ppid != master
      exit!(0)
    rescue Exception => e # rubocop:disable Lint/RescueException
      Iodine.log_error(e, prefix: "pub/sub hub #{Process.pid} failed: ", frames: 10)
      exit!(1)
    end
  end
end
