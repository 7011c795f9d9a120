# frozen_string_literal: true

require "socket"
require "set"
require "net/http"
require_relative "process_helpers"
require_relative "raw_http"
require_relative "server"

# Helpers for the worker-cluster specs (issue 3): a server started with an
# explicit worker count, requests over NEW connections (so the kernel/server
# picks a worker each time), pid bookkeeping so every worker we saw is gone
# when the example ends, and a load loop for hot-restart checks.
module IodineSpec
  module_function

  # True while `pid` names a live process; a zombie (exited, not reaped yet)
  # counts as gone.
  def pid_alive?(pid)
    Process.kill(0, pid)
    state = File.read("/proc/#{pid}/stat")[/\)\s+(\S)/, 1]
    state != "Z"
  rescue Errno::ESRCH
    false
  rescue Errno::EPERM
    true
  rescue SystemCallError, IOError
    # /proc vanished between the two checks: it exited.
    false
  end

  # True if `pid` is (still) an iodine process: guards every kill of a pid we
  # only learnt from a response, against pid reuse.
  def iodine_process?(pid)
    File.binread("/proc/#{pid}/cmdline").include?("iodine")
  rescue SystemCallError, IOError
    false
  end

  # Waits (bounded) until none of the pids is alive; returns the ones still alive.
  def wait_pids_gone(pids, timeout: 10)
    left = pids.to_a
    wait_until(timeout: timeout) do
      left = left.select { |pid| pid_alive?(pid) }
      left.empty?
    end
    left
  end

  # `ruby exe/iodine -w N -t T -b 127.0.0.1 -p PORT [flags] app`: the spawned
  # process is the master. Workers are discovered from the X-Pid header /
  # body of responses, and from logs the fixtures write (track_pids).
  class ClusterServer < Server
    attr_reader :seen_pids, :unix_path, :chdir

    # workers: nil leaves -w out (for WORKERS / WEB_CONCURRENCY); unix: a
    # socket path as given to -b (relative to chdir) instead of a TCP port.
    def self.launch(app, workers: 2, threads: 2, flags: [], env: {}, port: nil, unix: nil,
                    chdir: IodineSpec::ROOT, ready_timeout: 15)
      app = IodineSpec.fixture(app) unless app.start_with?("/")
      cmd = [IodineSpec::RUBY, IodineSpec::LAUNCHER]
      if unix
        cmd += ["-b", unix]
      else
        port ||= IodineSpec.free_port
        cmd += ["-b", "127.0.0.1", "-p", port.to_s]
      end
      cmd += ["-t", threads.to_s]
      cmd += ["-w", workers.to_s] unless workers.nil?
      cmd += flags.map(&:to_s)
      cmd << app
      server = new(cmd, port: port, env: env, chdir: chdir,
                        unix_path: unix && File.expand_path(unix, chdir))
      server.start(ready_timeout: ready_timeout)
      server
    end

    def initialize(command, port:, env: {}, chdir: IodineSpec::ROOT, unix_path: nil)
      super(command, port: port, env: env)
      @chdir = chdir
      @unix_path = unix_path
      @seen_pids = Set.new
      @seen_lock = Mutex.new
    end

    # Spawns the master and waits (bounded) until the listener takes connections.
    def start(ready_timeout: 15)
      @pid = Process.spawn(@env, *@command, chdir: @chdir, in: File::NULL,
                                            out: @out.path, err: @err.path)
      ready = IodineSpec.wait_until(timeout: ready_timeout, interval: 0.05) do
        raise "server exited early (#{exited_status.inspect}):\n#{output}" if exited?

        listening?
      end
      return self if ready

      stop(signal: "KILL")
      raise "server not listening after #{ready_timeout}s:\n#{output}"
    end

    def listening?
      if @unix_path
        return false unless File.socket?(@unix_path)

        UNIXSocket.new(@unix_path).close
        true
      else
        IodineSpec.port_open?(@port)
      end
    rescue SystemCallError, IOError
      false
    end

    # A raw client on a NEW connection (TCP or Unix).
    def client(timeout: 5, &block)
      if @unix_path
        RawClient.open_unix(@unix_path, timeout: timeout, &block)
      else
        RawClient.open(@port, timeout: timeout, &block)
      end
    end

    # One request on a new connection with `Connection: close`; returns the
    # RawResponse and records the answering pid (X-Pid header).
    def fetch(path = "/pid", timeout: 5)
      client(timeout: timeout) do |c|
        c.request("GET", path, headers: { "Connection" => "close" })
        res = c.read_response(timeout: timeout)
        track_pids([res["X-Pid"].to_i]) if res["X-Pid"]
        res
      end
    end

    # The pid answering a new connection (the body of /pid).
    def answering_pid(timeout: 5)
      res = fetch("/pid", timeout: timeout)
      raise "GET /pid answered #{res.status}: #{res.body[0, 200].inspect}" unless res.status == 200

      Integer(res.body.strip)
    end

    # `count` requests, each on a new connection: {pid => answers}.
    def pid_histogram(count, timeout: 5)
      tally = Hash.new(0)
      count.times { tally[answering_pid(timeout: timeout)] += 1 }
      tally
    end

    # Polls with new connections until at least `n` distinct pids (for which
    # the block, if given, is true) have answered; returns them, or nil.
    def wait_for_pids(n, timeout: 15, &filter)
      found = Set.new
      IodineSpec.wait_until(timeout: timeout, interval: 0.02) do
        begin
          pid = answering_pid(timeout: 2)
          found << pid if filter.nil? || filter.call(pid)
        rescue StandardError
          nil
        end
        found.size >= n ? found : nil
      end
    end

    # Records pids (of workers) so cleanup can make sure they are gone.
    def track_pids(pids)
      @seen_lock.synchronize { pids.each { |pid| @seen_pids << pid if pid.positive? && pid != @pid } }
    end

    # Stops the master (TERM, then KILL), then KILLs any worker we saw that is
    # still around (a failing example must not leave orphans behind).
    def cleanup
      return if @final_err

      super
      leftover = @seen_pids.select { |pid| IodineSpec.pid_alive?(pid) }
      leftover = IodineSpec.wait_pids_gone(leftover, timeout: 3) unless leftover.empty?
      leftover.each do |pid|
        Process.kill("KILL", pid) if IodineSpec.iodine_process?(pid)
      rescue SystemCallError
        nil
      end
    end
  end

  # GETs over NEW connections (Net::HTTP) as fast as possible from a few
  # threads, until stopped; counts successes and every kind of failure.
  class LoadLoop
    Result = Struct.new(:ok, :failures, :errors, :versions, :pids, keyword_init: true)

    def initialize(port, path: "/version", threads: 2, timeout: 10)
      @port = port
      @path = path
      @thread_count = threads
      @timeout = timeout
      @lock = Mutex.new
      @ok = 0
      @failures = 0
      @errors = Hash.new(0)
      @versions = Hash.new(0)
      @pids = Hash.new(0)
      @stop = false
    end

    def start
      @threads = Array.new(@thread_count) { Thread.new { run } }
      self
    end

    # Stops the loop and returns a Result.
    def stop
      @stop = true
      @threads.each { |t| t.join(@timeout + 5) || t.kill }
      @lock.synchronize do
        Result.new(ok: @ok, failures: @failures, errors: @errors.dup, versions: @versions.dup, pids: @pids.dup)
      end
    end

    private

    def run
      until @stop
        begin
          res = Net::HTTP.start("127.0.0.1", @port, open_timeout: @timeout, read_timeout: @timeout,
                                                    write_timeout: @timeout) do |h|
            h.request(Net::HTTP::Get.new(@path, "Connection" => "close"))
          end
          record(res)
        rescue StandardError => e
          @lock.synchronize do
            @failures += 1
            @errors["#{e.class}: #{e.message}"[0, 120]] += 1
          end
        end
      end
    end

    def record(res)
      @lock.synchronize do
        if res.code == "200"
          @ok += 1
          @versions[res.body.to_s.strip] += 1
          @pids[res["X-Pid"].to_i] += 1
        else
          @failures += 1
          @errors["HTTP #{res.code}: #{res.body.to_s[0, 80]}"] += 1
        end
      end
    end
  end
end

module IodineSpec
  module_function

  # The parent pid of a live process, from /proc (nil if it is gone).
  def ppid_of(pid)
    Integer(File.read("/proc/#{pid}/stat")[/\)\s+\S+\s+(\d+)/, 1])
  rescue SystemCallError, IOError, TypeError, ArgumentError
    nil
  end

  # True if the process has the Go core (lib/iodine/libiodine_go.so) mapped.
  def go_loaded_in?(pid)
    File.read("/proc/#{pid}/maps").include?("libiodine_go")
  rescue SystemCallError, IOError
    false
  end
end
