# frozen_string_literal: true

require "spec_helper"
require "etc"

# Issue 3: the worker cluster. Every example starts
# `ruby exe/iodine -w N -t 2 -b 127.0.0.1 -p PORT spec/fixtures/cluster.ru`
# (the spawned process is the master), finds its workers from the pids that
# answer (X-Pid), and makes sure all of them are gone at the end.
RSpec.describe "Worker cluster" do
  around(:each) do |example|
    @dir = Dir.mktmpdir("iodine-cluster-spec")
    @servers = []
    example.run
  ensure
    FileUtils.rm_rf(@dir)
  end

  after(:each) do |example|
    @servers.each do |server|
      warn server.output if example.exception
      server.cleanup
    end
  end

  def load_log
    File.join(@dir, "load.log")
  end

  def load_lines
    File.exist?(load_log) ? File.read(load_log).lines.map(&:strip).reject(&:empty?) : []
  end

  # Starts the cluster; the environment never leaks WORKERS/WEB_CONCURRENCY from ours.
  def launch(app = "cluster.ru", **opts)
    base = { "IODINE_SPEC_DIR" => @dir, "LOAD_LOG" => load_log, "WORKERS" => nil, "WEB_CONCURRENCY" => nil }
    opts[:env] = base.merge(opts[:env] || {})
    server = IodineSpec::ClusterServer.launch(app, **opts)
    @servers << server
    server
  end

  # Two distinct worker pids (never the master) must answer within 15 s.
  def workers_of(server, count = 2)
    pids = server.wait_for_pids(count, timeout: 15)
    expect(pids).not_to be_nil, "fewer than #{count} distinct pids answered within 15 s:\n#{server.output}"
    expect(pids).not_to include(server.pid)
    pids.to_a
  end

  # Both sets of pids, as the helper logs them in a failure message.
  def describe_pids(pids)
    pids.map { |pid| "#{pid}(#{IodineSpec.pid_alive?(pid) ? "alive" : "gone"})" }.join(", ")
  end

  # ------------------------------------------------------------------ point 1
  describe "-w N forks N workers" do
    it "answers from two distinct worker pids, never the master, with a fair share each" do
      server = launch(workers: 2, threads: 2)
      workers_of(server)
      tally = server.pid_histogram(200)
      expect(tally.keys.size).to eq(2), "pids that answered 200 new connections: #{tally.inspect}"
      expect(tally.keys).not_to include(server.pid)
      tally.each do |pid, n|
        expect(n).to be >= 50, "worker #{pid} took #{n} of 200 connections: #{tally.inspect}"
        expect(IodineSpec.ppid_of(pid)).to eq(server.pid), "worker #{pid} is not a child of the master"
      end
    end

    it "keeps the Go core out of the master (it is plain Ruby)" do
      server = launch(workers: 2)
      pids = workers_of(server)
      expect(IodineSpec.go_loaded_in?(server.pid)).to be(false), "master #{server.pid} mapped libiodine_go"
      pids.each { |pid| expect(IodineSpec.go_loaded_in?(pid)).to be(true), "worker #{pid} has no Go core" }
    end

    it "reports Iodine.master? false, Iodine.worker? true and Iodine.workers 2 in a worker" do
      server = launch(workers: 2)
      workers_of(server)
      res = server.fetch("/info")
      expect(res.status).to eq(200)
      info = JSON.parse(res.body)
      expect(info).to include("master" => false, "worker" => true, "workers" => 2, "ppid" => server.pid)
    end

    { "WORKERS" => "2", "WEB_CONCURRENCY" => "2" }.each do |var, value|
      it "takes the worker count from #{var}=#{value}" do
        server = launch(workers: nil, env: { var => value })
        workers_of(server)
        tally = server.pid_histogram(60)
        expect(tally.keys.size).to eq(2), "#{var}=#{value}: pids that answered: #{tally.inspect}"
        expect(tally.keys).not_to include(server.pid)
      end
    end

    it "runs cores / 1 workers for -w -1" do
      cores = Etc.nprocessors
      server = launch(workers: -1)
      workers_of(server, cores)
      tally = server.pid_histogram(60 * cores)
      expect(tally.keys.size).to eq(cores), "-w -1 on #{cores} cores: pids that answered: #{tally.inspect}"
      expect(tally.keys).not_to include(server.pid)
    end

    it "fails at once with a clear message and a non-zero exit when the port is taken" do
      blocker = TCPServer.new("127.0.0.1", 0)
      port = blocker.addr[1]
      started = now
      out, err, status = IodineSpec.run_command(
        { "RACK_ENV" => "production", "LOAD_LOG" => load_log, "WORKERS" => nil, "WEB_CONCURRENCY" => nil },
        IodineSpec::RUBY, IodineSpec::LAUNCHER, "-w", "2", "-t", "2", "-b", "127.0.0.1", "-p", port.to_s,
        fixture("cluster.ru"), timeout: 15
      )
      elapsed = now - started
      expect(status).not_to be_nil, "still running 15 s after it could not bind:\n#{out}#{err}"
      expect(status.success?).to be(false)
      expect(elapsed).to be < 5
      expect(err).to include(port.to_s)
      expect(err).to match(/in use|taken|bind|address/i)
      expect(err).not_to match(/\.rb:\d+:in /) # one clear line, not a backtrace
      expect(load_lines).to be_empty, "the app was loaded although the port was taken: #{load_lines.inspect}"
    ensure
      blocker&.close
    end

    it "serves a Unix socket (-b ./cluster.sock) from both workers" do
      server = launch(workers: 2, unix: "./cluster.sock", chdir: @dir)
      expect(File.socket?(File.join(@dir, "cluster.sock"))).to be(true)
      workers_of(server)
      tally = server.pid_histogram(100)
      expect(tally.keys.size).to eq(2), "pids that answered over the Unix socket: #{tally.inspect}"
      expect(tally.keys).not_to include(server.pid)
    end
  end

  # ------------------------------------------------------------------ point 2
  describe "loading the app" do
    it "loads it once in each worker and never in the master without --preload" do
      server = launch(workers: 2)
      pids = workers_of(server)
      expect(wait_until(timeout: 10) { load_lines.size >= 2 }).to be_truthy
      sleep 0.3
      loads = load_lines.map(&:to_i)
      expect(loads.size).to eq(2), "loads: #{loads.inspect}"
      expect(loads.uniq.size).to eq(2)
      expect(loads).not_to include(server.pid)
      expect(loads.sort).to eq(pids.sort)
    end

    %w[--preload -warmup].each do |flag|
      it "loads it exactly once, in the master, with #{flag}" do
        server = launch(workers: 2, flags: [flag])
        pids = workers_of(server)
        server.pid_histogram(20)
        expect(load_lines).to eq([server.pid.to_s])
        expect(pids).not_to include(server.pid)
      end
    end

    it "runs the -C file in the master before the app is loaded anywhere" do
      server = launch(workers: 2, flags: ["-C", fixture("cluster_config.rb")])
      pids = workers_of(server)
      expect(wait_until(timeout: 10) { load_lines.size >= 3 }).to be_truthy
      lines = load_lines
      expect(lines.first).to eq("config #{server.pid}"), "load log: #{lines.inspect}"
      expect(lines.drop(1).map(&:to_i).sort).to eq(pids.sort)
    end

    it "runs the -C file in the master before the preloaded app" do
      server = launch(workers: 2, flags: ["-C", fixture("cluster_config.rb"), "--preload"])
      workers_of(server)
      expect(load_lines).to eq(["config #{server.pid}", server.pid.to_s])
    end

    it "re-forks from the master on hot restart with --preload, without loading again" do
      server = launch(workers: 2, flags: ["--preload"])
      old = workers_of(server)
      server.signal("USR1")
      fresh = server.wait_for_pids(2, timeout: 15) { |pid| !old.include?(pid) }
      expect(fresh).not_to be_nil, "no new workers after USR1:\n#{server.output}"
      expect(fresh.map { |pid| IodineSpec.ppid_of(pid) }.uniq).to eq([server.pid])
      expect(load_lines).to eq([server.pid.to_s])
    end
  end

  # ------------------------------------------------------------------ point 3
  describe "respawn" do
    it "replaces a worker killed with SIGKILL and logs the dead pid" do
      server = launch(workers: 2)
      victim, survivor = workers_of(server)
      log_from = server.stderr.bytesize
      Process.kill("KILL", victim)
      fresh = server.wait_for_pids(1, timeout: 10) { |pid| pid != victim && pid != survivor }
      expect(fresh).not_to be_nil, "no replacement for #{victim} within 10 s:\n#{server.output}"
      expect(server.wait_for_pids(1, timeout: 5) { |pid| pid == survivor }).to be_truthy
      expect(IodineSpec.pid_alive?(victim)).to be(false)
      logged = wait_until(timeout: 5) { server.stderr.byteslice(log_from..).include?(victim.to_s) }
      expect(logged).to be_truthy, "the log does not mention the dead worker #{victim}:\n#{server.stderr}"
      expect(server.alive?).to be(true)
    end

    it "backs off a worker that crashes at load in a loop, and the master stays up", timeout: 90 do
      crash_file = File.join(@dir, "crash")
      server = launch(workers: 2, env: { "CRASH_FILE" => crash_file })
      victim, survivor = workers_of(server)
      expect(wait_until(timeout: 10) { load_lines.size >= 2 }).to be_truthy
      before = load_lines.size
      File.write(crash_file, "")
      Process.kill("KILL", victim)
      sleep 5
      crashed_loads = load_lines.size - before
      expect(crashed_loads).to be >= 1, "the dead worker was never respawned:\n#{server.output}"
      expect(crashed_loads).to be < 20, "#{crashed_loads} loads in 5 s: the crash loop is not backed off"
      expect(server.alive?).to be(true), "master exited:\n#{server.output}"
      tally = server.pid_histogram(20)
      expect(tally.keys).to eq([survivor]), "while the other worker crash-loops: #{tally.inspect}"

      # Fixed: a working worker comes back.
      File.delete(crash_file)
      fresh = server.wait_for_pids(1, timeout: 25) { |pid| pid != victim && pid != survivor }
      expect(fresh).not_to be_nil, "no worker came back 25 s after the crash was fixed:\n#{server.output}"
    end
  end

  # ------------------------------------------------------------------ point 4
  describe "hot restart" do
    it "USR1 serves the changed app with zero failed requests under load, and the old workers exit",
       timeout: 90 do
      version_file = File.join(@dir, "version")
      File.write(version_file, "v1")
      server = launch(workers: 2, env: { "APP_VERSION_FILE" => version_file })
      old = workers_of(server)
      expect(server.fetch("/version").body).to eq("v1")

      loop_ = IodineSpec::LoadLoop.new(server.port, path: "/version", threads: 2).start
      sleep 1
      File.write(version_file, "v2")
      server.signal("USR1")
      sleep 3
      result = loop_.stop
      server.track_pids(result.pids.keys)

      expect(result.failures).to eq(0),
                                 "#{result.failures} failed requests during the restart: #{result.errors.inspect}\n" \
                                 "(#{result.ok} succeeded, versions #{result.versions.inspect})\n#{server.output}"
      expect(result.ok).to be > 50, "the load loop made only #{result.ok} requests"

      new_code = wait_until(timeout: 15) do
        Array.new(10) { server.fetch("/version") }.all? { |res| res.status == 200 && res.body == "v2" }
      end
      expect(new_code).to be_truthy, "the new version does not answer after USR1:\n#{server.output}"
      fresh = server.wait_for_pids(2, timeout: 10) { |pid| !old.include?(pid) }
      expect(fresh).not_to be_nil
      left = IodineSpec.wait_pids_gone(old, timeout: 20)
      expect(left).to be_empty, "old workers still running after the restart: #{describe_pids(old)}"
      tally = server.pid_histogram(40)
      expect(tally.keys & old).to be_empty, "old workers still answer: #{tally.inspect}"
      expect(server.alive?).to be(true)
    end

    it "SIGINT to one worker restarts just that worker" do
      server = launch(workers: 2)
      victim, survivor = workers_of(server)
      Process.kill("INT", victim)
      fresh = server.wait_for_pids(1, timeout: 15) { |pid| pid != victim && pid != survivor }
      expect(fresh).not_to be_nil, "no replacement for #{victim} after its SIGINT:\n#{server.output}"
      expect(IodineSpec.wait_pids_gone([victim], timeout: 10)).to be_empty
      expect(IodineSpec.pid_alive?(survivor)).to be(true)
      expect(server.wait_for_pids(1, timeout: 5) { |pid| pid == survivor }).to be_truthy
      expect(server.alive?).to be(true)
    end

    it "loses no request under load while one worker retires on SIGINT", timeout: 60 do
      server = launch(workers: 2)
      victim, survivor = workers_of(server)
      loop_ = IodineSpec::LoadLoop.new(server.port, path: "/pid", threads: 2).start
      sleep 0.5
      Process.kill("INT", victim)
      replaced = IodineSpec.wait_pids_gone([victim], timeout: 15).empty? &&
                 server.wait_for_pids(1, timeout: 10) { |pid| pid != victim && pid != survivor }
      sleep 0.5
      result = loop_.stop
      server.track_pids(result.pids.keys)
      expect(replaced).to be_truthy, "worker #{victim} was not replaced:\n#{server.output}"
      expect(result.failures).to eq(0),
                                 "#{result.failures} failed requests while #{victim} retired: #{result.errors.inspect}"
      expect(result.ok).to be > 50
    end

    it "-hr 2 restarts the workers every 2 s without a signal", timeout: 60 do
      server = launch(workers: 2, flags: ["-hr", "2"])
      first = workers_of(server)
      fresh = server.wait_for_pids(1, timeout: 15) { |pid| !first.include?(pid) }
      expect(fresh).not_to be_nil, "the same workers still answer 15 s later:\n#{server.output}"
      expect(IodineSpec.wait_pids_gone(first, timeout: 15)).to be_empty,
                                                               "first workers: #{describe_pids(first)}"
      expect(server.alive?).to be(true)
    end

    it "Iodine.run_every in a -C file (running in the master) hot-restarts the workers", timeout: 60 do
      server = launch(workers: 2, flags: ["-C", fixture("cluster_restart_timer.rb")],
                      env: { "RESTART_EVERY_MS" => "500" })
      first = workers_of(server)
      fresh = server.wait_for_pids(1, timeout: 15) { |pid| !first.include?(pid) }
      expect(fresh).not_to be_nil, "the same workers still answer 15 s later:\n#{server.output}"
      expect(IodineSpec.wait_pids_gone(first, timeout: 15)).to be_empty,
                                                               "first workers: #{describe_pids(first)}"
      expect(server.alive?).to be(true)
      expect(IodineSpec.go_loaded_in?(server.pid)).to be(false), "the master's timer loaded the Go core"
    end
  end

  # ------------------------------------------------------------------ point 5
  describe "stopping" do
    %w[TERM INT].each do |sig|
      it "finishes a slow request in flight on SIG#{sig}; the master exits 0 after its workers" do
        server = launch(workers: 2)
        pids = workers_of(server)
        slow = Thread.new { get(server.port, "/slow?s=2", timeout: 15) }
        started = wait_until(timeout: 10) { Dir[File.join(@dir, "slow_started_*")].first }
        expect(started).to be_truthy
        expect(pids).to include(started[/slow_started_(\d+)\z/, 1].to_i)
        server.signal(sig)
        expect(slow.join(15)).to be_truthy
        res = slow.value
        expect(res.code).to eq("200")
        expect(res.body).to eq("slow done")
        status = server.wait(timeout: 15)
        expect(status).not_to be_nil, "master still running 15 s after SIG#{sig}:\n#{server.output}"
        expect(status.exitstatus).to eq(0), server.output
        # The master waits for its workers: none is left when it is gone.
        left = pids.select { |pid| IodineSpec.pid_alive?(pid) }
        expect(left).to be_empty, "workers alive after the master exited: #{describe_pids(pids)}"
        expect(IodineSpec.port_open?(server.port)).to be(false)
      end
    end

    it "exits at once on a second SIGINT even with a slow request in flight" do
      server = launch(workers: 2)
      pids = workers_of(server)
      slow = Thread.new do
        get(server.port, "/slow?s=10", timeout: 20)
      rescue StandardError => e
        e
      end
      expect(wait_until(timeout: 10) { Dir[File.join(@dir, "slow_started_*")].first }).to be_truthy
      server.signal("INT")
      sleep 0.5
      expect(server.alive?).to be(true), "the first SIGINT did not wait for the slow request"
      forced = now
      server.signal("INT")
      status = server.wait(timeout: 5)
      expect(status).not_to be_nil, "still running 5 s after the second SIGINT:\n#{server.output}"
      expect(now - forced).to be < 3
      expect(IodineSpec.wait_pids_gone(pids, timeout: 5)).to be_empty, "orphans: #{describe_pids(pids)}"
      slow.join(15)
    end

    it "writes the master pid to -pid FILE, keeps it across a worker restart and removes it at exit" do
      pidfile = File.join(@dir, "iodine.pid")
      server = launch(workers: 2, flags: ["-pid", pidfile])
      victim, survivor = workers_of(server)
      expect(wait_until(timeout: 5) { File.exist?(pidfile) && !File.read(pidfile).strip.empty? }).to be_truthy
      expect(File.read(pidfile).strip).to eq(server.pid.to_s)
      Process.kill("INT", victim)
      expect(server.wait_for_pids(1, timeout: 15) { |pid| pid != victim && pid != survivor }).to be_truthy
      expect(File.exist?(pidfile)).to be(true), "a retiring worker removed the master's pid file"
      expect(File.read(pidfile).strip).to eq(server.pid.to_s)
      status = server.stop(timeout: 15)
      expect(status&.exitstatus).to eq(0)
      expect(File.exist?(pidfile)).to be(false)
    end

    it "leaves no orphan workers when the master is killed with SIGKILL" do
      server = launch(workers: 2)
      pids = workers_of(server)
      server.signal("KILL")
      expect(server.wait(timeout: 5)).not_to be_nil
      left = IodineSpec.wait_pids_gone(pids, timeout: 10)
      expect(left).to be_empty, "workers still running 10 s after the master died: #{describe_pids(pids)}"
    end
  end

  # ------------------------------------------------------------------ point 6
  describe "lifecycle hooks" do
    it "runs each on_state hook in the right processes, in order" do
      hook_log = File.join(@dir, "hooks.log")
      server = launch(workers: 2, flags: ["-C", fixture("cluster_hooks.rb")], env: { "HOOK_LOG" => hook_log })
      pids = workers_of(server)
      master = server.pid
      read = lambda do
        next [] unless File.exist?(hook_log)

        File.read(hook_log).lines.map(&:split).reject(&:empty?).map do |state, pid, role, count|
          { state: state, pid: pid.to_i, role: role, workers: count.to_i }
        end
      end
      started = wait_until(timeout: 10) do
        read.call.select { |e| e[:state] == "on_start" }.map { |e| e[:pid] }.uniq.size >= 2
      end
      expect(started).to be_truthy, "hook log: #{read.call.inspect}"
      expect(server.stop(timeout: 15)&.exitstatus).to eq(0)
      events = read.call
      log = events.map { |e| e.values.join(" ") }.join("\n")
      by = ->(state) { events.select { |e| e[:state] == state.to_s } }

      # master?/worker? answer right in every hook.
      events.each do |e|
        expect(e[:role]).to eq(e[:pid] == master ? "master" : "worker"), "#{e.inspect} (master #{master})\n#{log}"
      end

      expect(by.call(:before_fork).map { |e| e[:pid] }).to eq([master, master]), log
      expect(by.call(:enter_master).map { |e| e[:pid] }.uniq).to eq([master]), log
      expect(by.call(:enter_child).map { |e| e[:pid] }.sort).to eq(pids.sort), log
      expect(by.call(:after_fork).map { |e| e[:pid] } & pids).to match_array(pids), log
      expect(by.call(:on_start).map { |e| e[:pid] } & pids).to match_array(pids), log
      expect(by.call(:on_start).select { |e| pids.include?(e[:pid]) }.map { |e| e[:workers] }.uniq).to eq([2]), log
      expect(by.call(:start_shutdown).map { |e| e[:pid] }).to include(master, *pids), log
      expect(by.call(:on_finish).map { |e| e[:pid] }).to include(master, *pids), log

      # Order: forks start after the first before_fork; in each worker
      # enter_child comes before on_start and start_shutdown before on_finish;
      # the master finishes last.
      index = ->(state, pid) { events.index { |e| e[:state] == state.to_s && e[:pid] == pid } }
      first_fork = events.index { |e| e[:state] == "before_fork" }
      pids.each do |pid|
        expect(first_fork).to be < index.call(:enter_child, pid), log
        expect(index.call(:enter_child, pid)).to be < index.call(:on_start, pid), log
        expect(index.call(:start_shutdown, pid)).to be < index.call(:on_finish, pid), log
      end
      expect(index.call(:start_shutdown, master)).to be < index.call(:on_finish, master), log
      expect(events.last).to include(state: "on_finish", pid: master), log
    end
  end

  # ------------------------------------------------------------------ point 7
  describe "a process the app forked on its own" do
    it "gets a clear Iodine::Error from Iodine.start, not a hang" do
      server = launch(workers: 2)
      workers_of(server)
      res = server.fetch("/fork_start", timeout: 15)
      expect(res.status).to eq(200)
      expect(res.body).not_to eq("HANG")
      expect(res.body).to start_with("Iodine::Error: "), res.body
      expect(res.body).to match(/fork/i), "not a clear message for a forked process: #{res.body}"
      expect(server.answering_pid).to be_a(Integer) # the worker still serves
    end

    it "gets an Iodine::Error from a call into the Go core, not a hang" do
      server = launch(workers: 2)
      workers_of(server)
      res = server.fetch("/fork_core", timeout: 15)
      expect(res.status).to eq(200)
      expect(res.body).not_to eq("HANG")
      expect(res.body).to start_with("Iodine::Error: "), res.body
      expect(server.answering_pid).to be_a(Integer)
    end
  end
end
