# frozen_string_literal: true

require "tempfile"
require "tmpdir"
require_relative "process_helpers"

module IodineSpec
  # A real server process started for a test: `ruby exe/iodine ...` (or any
  # command that listens on the given port), its stdout/stderr captured to
  # temp files so tests can assert on log lines.
  class Server
    attr_reader :pid, :port, :command, :status

    # Starts `exe/iodine -p PORT -b 127.0.0.1 -t THREADS -w 0 FLAGS APP`.
    # env: extra environment; RACK_ENV defaults to "production".
    def self.launch(app, threads: 2, flags: [], env: {}, port: nil, ready_timeout: 10)
      port ||= IodineSpec.free_port
      app = IodineSpec.fixture(app) unless app.start_with?("/")
      cmd = [IodineSpec::RUBY, IodineSpec::LAUNCHER, "-p", port.to_s, "-b", "127.0.0.1",
             "-t", threads.to_s, "-w", "0", *flags.map(&:to_s), app]
      server = new(cmd, port: port, env: env)
      server.start(ready_timeout: ready_timeout)
      server
    end

    def initialize(command, port:, env: {})
      @command = command
      @port = port
      @env = { "RACK_ENV" => "production" }.merge(env)
      @out = Tempfile.new(["iodine-spec", ".out"])
      @err = Tempfile.new(["iodine-spec", ".err"])
      @status = nil
      @pid = nil
    end

    # Spawns the command and waits (bounded) until the port accepts
    # connections. Raises with the captured output if it exits or never
    # becomes ready.
    def start(ready_timeout: 10)
      @pid = Process.spawn(@env, *@command, chdir: IodineSpec::ROOT, in: File::NULL,
                                            out: @out.path, err: @err.path)
      ready = IodineSpec.wait_until(timeout: ready_timeout, interval: 0.05) do
        raise "server exited early (#{exited_status.inspect}):\n#{output}" if exited?

        IodineSpec.port_open?(@port)
      end
      return self if ready

      stop(signal: "KILL")
      raise "server not listening on #{@port} after #{ready_timeout}s:\n#{output}"
    end

    # True once the process has exited (reaps it).
    def exited?
      return true if @status

      _, st = Process.waitpid2(@pid, Process::WNOHANG)
      @status = st if st
      !@status.nil?
    rescue Errno::ECHILD
      true
    end

    def exited_status
      @status
    end

    def alive?
      !exited?
    end

    # Sends a signal without waiting.
    def signal(sig)
      Process.kill(sig, @pid)
    end

    # Waits (bounded) for exit; returns the Process::Status or nil.
    def wait(timeout: 10)
      return @status if @status

      @status = IodineSpec.wait_pid(@pid, timeout)
    end

    # Stops the server (TERM, wait, then KILL) and returns its exit status.
    def stop(signal: "TERM", timeout: 10)
      return @status if @pid.nil? || exited?

      @status, @killed = IodineSpec.terminate(@pid, signal: signal, timeout: timeout)
      @status
    end

    def killed?
      @killed
    end

    def stderr
      @final_err || File.binread(@err.path)
    end

    def stdout
      @final_out || File.binread(@out.path)
    end

    def output
      "--- command: #{@command.join(" ")}\n--- stdout:\n#{stdout}\n--- stderr:\n#{stderr}"
    end

    # Waits (bounded) until stderr matches the pattern; returns the match.
    def wait_for_log(pattern, timeout: 5)
      IodineSpec.wait_until(timeout: timeout) { stderr.match(pattern) }
    end

    def cleanup
      return if @final_err

      stop(timeout: 5) unless exited?
      @final_out = stdout
      @final_err = stderr
      @out.close!
      @err.close!
    end

    def url(path = "/")
      "http://127.0.0.1:#{@port}#{path}"
    end
  end
end
