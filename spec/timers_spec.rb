# frozen_string_literal: true

require "spec_helper"

# Tasks and timers (Iodine.run / defer / run_after / run_every) in a
# single process; the cluster case (a timer in the master) is in
# cluster_spec.rb. spec/fixtures/timers_app.ru records every run.
RSpec.describe "Tasks and timers" do
  describe "added while the app loads and from a request" do
    # -t 1: the server's one Ruby thread (see the last example).
    serve_fixture "timers_app.ru", threads: 1

    def timer_log
      JSON.parse(get(@port, "/log").body)
    end

    def record(name)
      timer_log.find { |r| r["name"] == name }
    end

    it "runs Iodine.run, run_after(300) and run_every(100, 3) after the start, off the main thread" do
      expect(wait_until(timeout: 5) { record("every3") && record("after") }).to be_truthy, timer_log.inspect
      sleep 0.3 # room for a wrong fourth run
      log = timer_log.reject { |r| %w[late deferred].include?(r["name"]) }
      expect(log.map { |r| r["name"] }.sort).to eq(%w[after every1 every2 every3 run])
      log.each do |r|
        expect(r["since_start"]).to be_a(Float), "#{r["name"]} ran before the server started: #{r.inspect}"
        expect(r).to include("main_thread" => false, "running" => true)
      end
      at = log.to_h { |r| [r["name"], r["since_start"]] }
      expect(at["run"]).to be < 0.25
      expect(at["after"]).to be_between(0.28, 1.5)
      expect(at["every1"]).to be_between(0.08, 1.0)
      expect(at["every2"] - at["every1"]).to be_between(0.07, 1.0)
      expect(at["every3"] - at["every2"]).to be_between(0.07, 1.0)
    end

    it "logs an exception raised in a block, and the repeating timer keeps going" do
      expect(wait_until(timeout: 5) { record("every3") }).to be_truthy
      expect(@server.stderr).to match(/timer boom 1/)
      expect(@server.stderr).not_to match(/timer boom [23]/)
      expect(get(@port, "/log").code).to eq("200")
    end

    it "schedules run_after and defer from a request" do
      expect(get(@port, "/later").body).to eq("scheduled")
      expect(wait_until(timeout: 5) { record("late") && record("deferred") }).to be_truthy
      expect(record("late")["since_start"] - record("deferred")["since_start"]).to be_between(0.05, 1.5)
      expect(record("late")).to include("main_thread" => false)
    end

    it "repeats run_every(50) with no limit" do
      first = get(@port, "/ticks").body.to_i
      expect(wait_until(timeout: 5) { get(@port, "/ticks").body.to_i >= first + 4 }).to be(true)
    end

    # Timers run on the server's Ruby threads (-t), as iodine's do: with one
    # thread, a timer never runs while a request is being handled.
    it "with -t 1, runs no timer block while a request is in the app" do
      before, after = get(@port, "/sleep").body.split(",").map(&:to_i)
      expect(after).to eq(before), "the 50 ms timer ticked #{after - before} times during a 0.5 s request with -t 1"
    end
  end

  describe "on the server's threads (-t 2)" do
    serve_fixture "timers_app.ru", threads: 2

    it "runs timers on the other thread while one is busy in a long request" do
      expect(wait_until(timeout: 5) { get(@port, "/ticks").body.to_i >= 1 }).to be(true)
      before, after = get(@port, "/sleep").body.split(",").map(&:to_i)
      expect(after - before).to be >= 2, "the 50 ms timer ticked #{after - before} times during a 0.5 s request"
    end

    # run_every(50, 12) whose first 4 runs take 0.25 s: a run is never queued
    # behind (or beside) a running one, so the runs never overlap, only a
    # few fit in the slow second, and the fast runs after it come an
    # interval apart rather than in a burst of runs that piled up.
    it "never overlaps or piles up the runs of a repeating timer slower than its interval" do
      expect(get(@port, "/slow").body).to eq("scheduled")
      runs = nil
      done = wait_until(timeout: 15) { (runs = JSON.parse(get(@port, "/slow_log").body)).size >= 12 }
      expect(done).to be(true), "only #{runs&.size} of 12 runs after 15 s: #{runs.inspect}"
      sleep 0.3 # room for a wrong 13th run
      runs = JSON.parse(get(@port, "/slow_log").body).sort_by(&:first)
      expect(runs.size).to eq(12)
      runs.each_cons(2) do |(_, prev_end), (start, _)|
        expect(start).to be >= prev_end, "a run started before the previous one ended: #{runs.inspect}"
      end
      first = runs[0][0]
      in_slow_second = runs.count { |(start, _)| start - first < 0.9 }
      expect(in_slow_second).to be <= 4, "#{in_slow_second} runs started in the first 0.9 s: #{runs.inspect}"
      expect(runs[11][0] - runs[4][0]).to be >= 0.2, "the 8 fast runs came in a burst: #{runs.inspect}"
    end
  end

  it "stops with the server: SIGTERM ends the process promptly while a repeating timer runs" do
    with_server("timers_app.ru") do |server|
      expect(wait_until(timeout: 5) { get(server.port, "/ticks").body.to_i >= 2 }).to be(true)
      started = now
      status = server.stop(timeout: 10)
      expect(server.killed?).to be(false)
      expect(status&.exitstatus).to eq(0)
      expect(now - started).to be < 5
    end
  end

  it "runs no timer block once shutdown began, while a request in flight keeps the server up" do
    with_server("timers_app.ru") do |server|
      expect(wait_until(timeout: 5) { get(server.port, "/ticks").body.to_i >= 2 }).to be(true)
      slow = Thread.new { get(server.port, "/sleep").body }
      sleep 0.1 # the request is in the app
      status = server.stop(timeout: 10)
      expect(status&.exitstatus).to eq(0)
      expect(slow.value).to match(/\A\d+,\d+\z/) # it finished
      ticks = server.stderr[/TICKS AFTER SHUTDOWN (\d+)/, 1]
      expect(ticks).not_to be_nil, server.stderr
      # One may have been running as the shutdown began; the 50 ms timer
      # would tick about 8 times while the 0.5 s request finishes.
      expect(ticks.to_i).to be <= 1, server.stderr
    end
  end
end
