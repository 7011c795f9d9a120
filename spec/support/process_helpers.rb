# frozen_string_literal: true

require "socket"
require "tempfile"
require "timeout"
require "rbconfig"

module IodineSpec
  ROOT = File.expand_path("../..", __dir__)
  FIXTURES = File.join(ROOT, "spec", "fixtures")
  LAUNCHER = File.join(ROOT, "exe", "iodine")
  RUBY = RbConfig.ruby

  module_function

  # A port nobody listens on: bind port 0 on the loopback, read it, close.
  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def fixture(name)
    File.join(FIXTURES, name)
  end

  # Monotonic clock, for deadlines and timings.
  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Polls the block until it returns a truthy value or the time is up.
  # Returns the block's value, or nil on timeout.
  def wait_until(timeout: 5, interval: 0.05)
    deadline = now + timeout
    loop do
      value = yield
      return value if value
      return nil if now >= deadline

      sleep interval
    end
  end

  def port_open?(port, host = "127.0.0.1")
    sock = Socket.tcp(host, port, connect_timeout: 0.5)
    sock.close
    true
  rescue SystemCallError, IOError, SocketError
    false
  end

  # Waits for a child to exit, at most `timeout` seconds.
  # Returns its Process::Status, or nil if it is still running.
  def wait_pid(pid, timeout)
    deadline = now + timeout
    loop do
      _, status = Process.waitpid2(pid, Process::WNOHANG)
      return status if status
      return nil if now >= deadline

      sleep 0.02
    end
  rescue Errno::ECHILD
    nil
  end

  # Stops a process we started: `signal`, wait, then KILL.
  # Returns [status, killed?]. Only ever called with our own children's pids.
  def terminate(pid, signal: "TERM", timeout: 10)
    begin
      Process.kill(signal, pid)
    rescue Errno::ESRCH
      return [wait_pid(pid, 1), false]
    end
    status = wait_pid(pid, timeout)
    return [status, false] if status

    begin
      Process.kill("KILL", pid)
    rescue Errno::ESRCH
      nil
    end
    [wait_pid(pid, 5), true]
  end

  # Runs a command to completion (bounded); returns [stdout, stderr, status].
  # A command that overruns is killed and the status is nil.
  # Runs a Ruby script with this checkout's lib on the load path.
  def run_ruby(script, timeout: 20)
    run_command({}, RUBY, "-I", File.join(ROOT, "lib"), "-e", script, timeout: timeout)
  end

  def run_command(env, *cmd, timeout: 20, chdir: ROOT)
    out = Tempfile.new("iodine-spec-out")
    err = Tempfile.new("iodine-spec-err")
    pid = Process.spawn(env, *cmd, chdir: chdir, in: File::NULL, out: out.path, err: err.path)
    status = wait_pid(pid, timeout)
    unless status
      terminate(pid, signal: "KILL", timeout: 5)
      status = nil
    end
    [File.binread(out.path), File.binread(err.path), status]
  ensure
    out&.close!
    err&.close!
  end
end
