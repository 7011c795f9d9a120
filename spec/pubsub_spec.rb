# frozen_string_literal: true

require "spec_helper"

# Pub/sub, black box: WebSocket and SSE clients subscribe through the
# fixtures' commands, messages are published from other connections, and
# everything the clients receive is checked (content, frame type, order,
# exactly once). "Not delivered" is proved with a marker: a message the
# client is subscribed to, published after the one that must not arrive;
# one publisher's messages arrive in order, so the marker comes first.
RSpec.describe "Pub/sub" do
  # --- helpers ---------------------------------------------------------

  after(:each) do
    @clients&.each { |c| c.respond_to?(:disconnect) ? c.disconnect : c.close }
    @clients = nil
  end

  # A WebSocket client, disconnected after the example.
  def ws(port = @port, path = "/")
    client = IodineSpec::WSClient.open(port, path, timeout: 5)
    (@clients ||= []) << client
    client
  end

  def sse(port = @port, path = "/")
    client = IodineSpec::SSEClient.open(port, path, timeout: 5)
    (@clients ||= []) << client
    client
  end

  def unique(prefix = "ch")
    "#{prefix}#{SecureRandom.hex(4)}"
  end

  # Messages read while waiting for a command's answer, per client.
  def backlog(client)
    (@backlog ||= {}.compare_by_identity)[client] ||= []
  end

  # The next message, backlog first.
  def next_message(client, timeout: 5)
    backlog(client).shift || client.read_message(timeout: timeout)
  end

  # Sends a pubsub_app.ru command and waits for its "ok:LINE=RESULT" answer;
  # returns RESULT. What arrives before it is kept for next_message.
  def command(client, line, timeout: 5)
    client.send_text(line)
    deadline = now + timeout
    prefix = "ok:#{line}="
    loop do
      type, text = client.read_message(timeout: [deadline - now, 0.01].max)
      return text.delete_prefix(prefix) if type == :text && text.start_with?(prefix)

      backlog(client) << [type, text]
    end
  end

  # Texts received up to (not including) the message `marker`.
  def texts_until(client, marker, timeout: 5)
    deadline = now + timeout
    got = []
    loop do
      type, text = next_message(client, timeout: [deadline - now, 0.01].max)
      return got if text == marker

      got << (type == :text ? text : [type, text])
    end
  end

  # =====================================================================
  describe "in one process" do
    serve_fixture "pubsub_app.ru", threads: 4

    let(:pub) { ws }

    describe "connection subscriptions" do
      it "sends messages straight to a client subscribed without a block, and runs a |channel, message| block" do
        plain = ws
        blocky = ws
        ch = unique
        expect(command(plain, "sub #{ch}")).to eq(ch.inspect)
        expect(command(blocky, "sub_block #{ch}")).to eq(ch.inspect)
        expect(command(pub, "pub #{ch} hello there")).to eq("true")
        expect(next_message(plain)).to eq([:text, "hello there"])
        expect(next_message(blocky)).to eq([:text, "block:#{ch}:hello there"])
      end

      it "gives a one-argument block a message object (channel/event, message/data, to_s)" do
        sub = ws
        ch = unique
        command(sub, "sub_obj #{ch}")
        command(pub, "pub #{ch} payload")
        expect(next_message(sub)).to eq([:text, "obj:#{ch}|payload|#{ch}|payload|payload|Iodine::PubSub::Message"])
      end

      it "matches Redis globs with match: :redis (*, ?, [abc], [^a], [a-z])" do
        sub = ws
        id = unique("g")
        %W[#{id}.news.* #{id}.h?llo #{id}.s[ae]t #{id}.n[^o]t #{id}.r[a-c]n].each do |pattern|
          expect(command(sub, "psub #{pattern}")).to eq(pattern.inspect)
        end
        command(sub, "sub #{id}.end")
        hits = %w[news.sport news.a.b hello hallo sat set nut net ran rbn rcn]
        misses = %w[news weather news2.x hllo heello sit not rdn rn]
        (misses + hits).shuffle(random: Random.new(7)).each { |c| command(pub, "pub #{id}.#{c} #{c}") }
        command(pub, "pub #{id}.end END")
        got = texts_until(sub, "END")
        expect(got.sort).to eq(hits.sort)
      end

      it "stops delivery after unsubscribe (channel and pattern)" do
        sub = ws
        ch = unique
        command(sub, "sub #{ch}")
        command(sub, "psub #{ch}.*")
        command(sub, "sub #{ch}.end")
        command(pub, "pub #{ch} one")
        command(pub, "pub #{ch}.x two")
        expect(command(sub, "unsub #{ch}")).to eq("true")
        expect(command(sub, "punsub #{ch}.*")).to eq("true")
        command(pub, "pub #{ch} three")
        command(pub, "pub #{ch}.x four")
        command(pub, "pub #{ch}.end END")
        expect(texts_until(sub, "END")).to eq(%w[one two])
      end

      it "delivers once to a client that subscribed twice (and a block subscription replaces a plain one)" do
        sub = ws
        ch = unique
        command(sub, "sub #{ch}")
        command(sub, "sub #{ch}")
        command(sub, "sub #{ch}.end")
        command(pub, "pub #{ch} once")
        command(sub, "sub_block #{ch}")
        command(pub, "pub #{ch} again")
        command(pub, "pub #{ch}.end END")
        expect(texts_until(sub, "END")).to eq(["once", "block:#{ch}:again"])
      end

      it "sends a binary (ASCII-8BIT) message as a binary frame and a UTF-8 one as a text frame" do
        sub = ws
        ch = unique
        command(sub, "sub #{ch}")
        command(pub, "pub_bin #{ch} 616263") # "abc".b: valid UTF-8, but binary
        command(pub, "pub_bin #{ch} fffe00")
        command(pub, "pub #{ch} héllo")
        expect(next_message(sub)).to eq([:binary, "abc".b])
        expect(next_message(sub)).to eq([:binary, "\xff\xfe\x00".b])
        type, text = next_message(sub)
        expect([type, text, text.encoding]).to eq([:text, "héllo", Encoding::UTF_8])
      end
    end

    describe "Iodine.subscribe (process level)" do
      def proc_log
        JSON.parse(get(@port, "/proc_log").body)
      end

      it "runs a block subscribed in config.ru (before the start) on a server thread, not the main thread" do
        command(pub, "pub proc.load first")
        line = wait_until(timeout: 5) { proc_log.find { |l| l.start_with?("proc.load|first|") } }
        expect(line).to eq("proc.load|first|worker-thread")
      end

      it "subscribes from a callback, and Iodine.unsubscribe stops the block" do
        ch = unique
        expect(command(pub, "proc_sub #{ch}")).to eq(ch.inspect)
        command(pub, "pub #{ch} before")
        expect(wait_until(timeout: 5) { proc_log.include?("#{ch}|before|worker-thread") }).to be(true)
        expect(command(pub, "proc_unsub #{ch}")).to eq("true")
        expect(command(pub, "proc_unsub #{ch}")).to eq("false")
        command(pub, "pub #{ch} after")
        command(pub, "pub proc.load marker-#{ch}")
        expect(wait_until(timeout: 5) { proc_log.include?("proc.load|marker-#{ch}|worker-thread") }).to be(true)
        sleep 0.2 # process blocks run on any of the 4 threads: give a stray one time to show up
        expect(proc_log.grep(/\A#{ch}\|/)).to eq(["#{ch}|before|worker-thread"])
      end
    end

    describe "limits" do
      it "ignores an empty message: publish returns false and nobody gets it" do
        sub = ws
        ch = unique
        command(sub, "sub #{ch}")
        expect(command(pub, "pub_empty #{ch}")).to eq("false")
        command(pub, "pub #{ch} END")
        expect(next_message(sub)).to eq([:text, "END"])
      end

      it "raises ArgumentError in the app for a channel name over 64 KiB (65,536 bytes is fine)" do
        expect(command(pub, "pub_channel_size 65536")).to eq("true")
        expect(command(pub, "pub_channel_size 65537")).to eq("ArgumentError")
        expect(command(pub, "sub_channel_size 65537")).to eq("ArgumentError")
        expect(command(pub, "pub_empty still-alive")).to eq("false")
      end
    end

    describe "ordering" do
      it "delivers 1000 messages from one publisher to every kind of subscriber, all and in order", timeout: 30 do
        ch = unique
        plain = ws
        blocky = ws
        command(plain, "sub #{ch}")
        command(blocky, "sub_block #{ch}")
        events = sse(@port, "/?ch=#{ch}")
        expect(events.read_event.event).to eq("ready")
        expect(command(pub, "burst #{ch} 1000 P", timeout: 20)).to eq('"1000"')
        expected = Array.new(1000) { |i| "P:#{i}" }
        expect(plain.read_messages(1000, timeout: 15).map(&:last)).to eq(expected)
        expect(blocky.read_messages(1000, timeout: 15).map(&:last)).to eq(expected.map { |m| "block:#{ch}:#{m}" })
        expect(events.read_events(1000, timeout: 15).map(&:data)).to eq(expected)
        # and nothing more
        command(pub, "pub #{ch} END")
        expect(plain.read_message).to eq([:text, "END"])
        expect(events.read_event.data).to eq("END")
      end

      it "keeps each publisher's order when two publish concurrently (-t 4)", timeout: 30 do
        ch = unique
        sub = ws
        command(sub, "sub #{ch}")
        pub_a = ws
        pub_b = ws
        pub_a.send_text("burst #{ch} 500 A")
        pub_b.send_text("burst #{ch} 500 B")
        got = sub.read_messages(1000, timeout: 20).map(&:last)
        expect(got.size).to eq(1000)
        expect(got.grep(/\AA:/)).to eq(Array.new(500) { |i| "A:#{i}" })
        expect(got.grep(/\AB:/)).to eq(Array.new(500) { |i| "B:#{i}" })
      end
    end
  end

  # =====================================================================
  describe "a custom engine as Iodine::PubSub.default" do
    serve_fixture "pubsub_engine.ru", threads: 2

    it "routes Iodine.publish through the engine's publish; an explicit engine bypasses it" do
      sub = ws
      pub = ws
      expect(sub.read_message).to eq([:text, "subscribed"])
      expect(pub.read_message).to eq([:text, "subscribed"])
      pub.send_text("hello")
      expect(sub.read_message).to eq([:text, "engine:hello"])
      pub.send_text("direct plain")
      expect(sub.read_message).to eq([:text, "plain"])
      report = JSON.parse(get(@port, "/engine").body)
      expect(report["default_is_engine"]).to be(true)
      expect(report["published"]).to eq([%w[room hello]])
      # attached, it heard the connections' subscriptions
      expect(report["subscribed"]).to include(["room", nil])
    end
  end

  # =====================================================================
  describe "across a -w 2 cluster" do
    after(:each) do |example|
      warn @cluster.output if example.exception && @cluster
      @cluster&.cleanup
    end

    def launch_cluster
      @cluster = IodineSpec::ClusterServer.launch("pubsub_cluster.ru", workers: 2, threads: 2,
                                                                       env: { "WORKERS" => nil, "WEB_CONCURRENCY" => nil })
    end

    # Opens WebSocket clients until at least `min` are open and two workers
    # are covered; returns { client => worker pid }. A worker still booting
    # accepts nothing, so this keeps trying for a while, not for a count.
    def clients_on_both_workers(min: 8, max: 200, exclude: [])
      clients = {}
      deadline = now + 15
      while clients.size < max && now < deadline
        sleep 0.05 if clients.size >= min
        client = ws(@cluster.port)
        _, text = client.read_message(timeout: 5)
        pid = Integer(text.delete_prefix("pid:"))
        @cluster.track_pids([pid])
        clients[client] = pid
        break if clients.size >= min && (clients.values.uniq - exclude).size >= 2
      end
      expect((clients.values.uniq - exclude).size).to be >= 2,
                                                      "#{clients.size} connections all reached #{clients.values.uniq.inspect}"
      clients
    end

    # The children of the master named "iodine pub/sub hub".
    def hub_pids
      out = IO.popen(["ps", "--ppid", @cluster.pid.to_s, "-o", "pid=,args="], &:read)
      out.lines.grep(%r{pub/sub hub}).map { |l| Integer(l.split.first) }
    end

    # Every client gets TAG:0..count-1 in order and then END (other
    # messages, such as stale probes, are skipped).
    def expect_burst_everywhere(clients, publisher, tag, count)
      publisher.send_text("burst #{count} #{tag}")
      publisher.send_text("END-#{tag}")
      clients.each_key do |client|
        got = texts_until(client, "END-#{tag}", timeout: 15).grep(/\A#{tag}:/)
        expect(got).to eq(Array.new(count) { |i| "#{tag}:#{i}" }), "on worker #{clients[client]}"
      end
    end

    it "delivers every message once and in order to subscribers on both workers", timeout: 60 do
      launch_cluster
      clients = clients_on_both_workers
      # one publisher per worker, concurrently
      pub_a = clients.keys.first
      pub_b = clients.keys.find { |c| clients[c] != clients[pub_a] }
      pub_a.send_text("burst 200 A")
      pub_b.send_text("burst 200 B")
      clients.each do |client, pid|
        got = client.read_messages(400, timeout: 15).map(&:last)
        expect(got.grep(/\AA:/)).to eq(Array.new(200) { |i| "A:#{i}" }), "worker #{pid}"
        expect(got.grep(/\AB:/)).to eq(Array.new(200) { |i| "B:#{i}" }), "worker #{pid}"
        expect(got.size).to eq(400)
      end
      # exactly once: nothing else is waiting before the next message
      pub_a.send_text("END")
      clients.each_key { |client| expect(client.read_message).to eq([:text, "END"]) }
    end

    it "delivers between the new workers after a hot restart (SIGUSR1)", timeout: 60 do
      launch_cluster
      before = clients_on_both_workers(min: 4)
      old = before.values.uniq
      before.each_key(&:disconnect) # so the old workers need not wait for them
      @cluster.signal("USR1")
      fresh = @cluster.wait_for_pids(2, timeout: 20) { |pid| !old.include?(pid) }
      expect(fresh).not_to be_nil, "no new workers after USR1"
      expect(IodineSpec.wait_pids_gone(old, timeout: 20)).to be_empty
      clients = clients_on_both_workers(exclude: old)
      expect(clients.values & old).to be_empty
      expect_burst_everywhere(clients, clients.keys.last, "R", 50)
    end

    it "replaces a killed hub, and delivery across workers resumes", timeout: 60 do
      launch_cluster
      clients = clients_on_both_workers(min: 4)
      hubs = hub_pids
      expect(hubs.size).to eq(1), "hubs among the master's children: #{hubs.inspect}"
      Process.kill("KILL", hubs.first)
      expect(@cluster.wait_for_log(%r{pub/sub hub #{hubs.first} .*replacing it}, timeout: 10)).to be_truthy
      expect(wait_until(timeout: 10) { (hub_pids - hubs).size == 1 }).to be(true), "no new hub process"

      # probe until a message crosses again (bounded), then check a burst
      publisher = clients.keys.first
      delivered = wait_until(timeout: 10, interval: 0) do
        probe = "probe-#{SecureRandom.hex(3)}"
        publisher.send_text(probe)
        clients.keys.all? do |client|
          texts_until(client, probe, timeout: 1)
          true
        rescue IodineSpec::WSClient::Timeout
          false
        end
      end
      expect(delivered).to be(true), "no delivery to both workers within 10 s of the hub's replacement"
      expect_burst_everywhere(clients, publisher, "H", 50)
    end

    it "leaves no hub process behind after SIGTERM to the master", timeout: 30 do
      launch_cluster
      clients_on_both_workers(min: 2)
      hubs = wait_until(timeout: 5) { hub_pids.then { |p| p.empty? ? nil : p } }
      expect(hubs&.size).to eq(1)
      status = @cluster.stop(signal: "TERM", timeout: 15)
      expect(@cluster.killed?).to be(false)
      expect(status).not_to be_nil
      expect(IodineSpec.wait_pids_gone(hubs, timeout: 5)).to be_empty, "hub #{hubs.inspect} outlived the master"
      expect(IodineSpec.wait_pids_gone(@cluster.seen_pids.to_a, timeout: 5)).to be_empty
    end
  end
end
