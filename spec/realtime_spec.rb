# frozen_string_literal: true

require_relative "spec_helper"

# WebSockets, SSE and pub/sub end to end: the seed README's broadcast app
# (spec/fixtures/realtime.ru) on a real server, raw clients from
# spec/support (WSClient, SSEClient).
RSpec.describe "WebSockets, SSE and pub/sub" do
  WS = IodineSpec::WSClient
  SSE = IodineSpec::SSEClient

  describe "one process" do
    serve_fixture "realtime.ru", threads: 2, flags: ["-maxms", "1", "-ping", "1"]

    it "upgrades, echoes text as UTF-8 and binary as binary" do
      WS.open(@port, "/echo") do |ws|
        expect(ws.read_message(timeout: 3)).to eq([:text, "open:websocket"])
        ws.send_text("héllo")
        expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:héllo"])
        ws.send_binary("\xFF\x00".b)
        # the echo interpolates a binary string, so it is binary too
        expect(ws.read_message(timeout: 3)).to eq([:binary, "ASCII-8BIT:\xFF\x00".b])
        ws.send_text("binary")
        expect(ws.read_message(timeout: 3)).to eq([:binary, "\x00\x01".b])
      end
    end

    it "keeps a connection's messages in order and reassembles fragments" do
      WS.open(@port, "/echo") do |ws|
        ws.read_message(timeout: 3)
        200.times { |i| ws.send_text("m#{i}") }
        ws.send_fragmented("abcdefghij", 3)
        got = ws.read_messages(201, timeout: 5).map(&:last)
        expect(got).to eq(200.times.map { |i| "UTF-8:m#{i}" } + ["UTF-8:abcdefghij"])
      end
    end

    it "answers pings and echoes the client's close code" do
      WS.open(@port, "/echo") do |ws|
        ws.read_message(timeout: 3)
        ws.ping("p1")
        expect(ws.read_message(timeout: 3, reply: false)).to eq([:pong, "p1"])
        ws.close(4001, "bye")
        expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 4001])
        expect(ws.wait_closed(timeout: 3)).to be(true)
      end
    end

    it "closes with 1000 when the app closes" do
      WS.open(@port, "/echo") do |ws|
        ws.read_message(timeout: 3)
        ws.send_text("close")
        expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 1000])
      end
    end

    it "closes with 1009 above -maxms and 1007 on invalid UTF-8, and keeps serving" do
      WS.open(@port, "/echo") do |ws|
        ws.read_message(timeout: 3)
        ws.send_text("x" * 2000)
        expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 1009])
      end
      WS.open(@port, "/echo") do |ws|
        ws.read_message(timeout: 3)
        ws.send_frame(opcode: :text, payload: "\xC3\x28".b)
        expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 1007])
      end
      WS.open(@port, "/echo") do |ws|
        ws.read_message(timeout: 3)
        ws.send_frame(opcode: :text, payload: "x", mask: false)
        expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 1002])
      end
      WS.open(@port, "/echo") do |ws|
        expect(ws.read_message(timeout: 3)).to eq([:text, "open:websocket"])
      end
    end

    it "decodes permessage-deflate messages when the client offers it" do
      WS.open(@port, "/echo", extensions: "permessage-deflate") do |ws|
        expect(ws.deflate?).to be(true)
        ws.read_message(timeout: 3)
        ws.send_text("squeeze me " * 10, compress: true)
        expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:#{"squeeze me " * 10}"])
      end
    end

    it "logs an exception in a callback and the connection keeps working" do
      WS.open(@port, "/echo") do |ws|
        ws.read_message(timeout: 3)
        ws.send_text("raise")
        ws.send_text("after")
        expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:after"])
      end
      expect(@server.output).to include("boom from on_message")
    end

    it "sends keep-alive pings every -ping seconds" do
      WS.open(@port, "/echo") do |ws|
        ws.read_message(timeout: 3)
        expect(ws.read_message(timeout: 4, reply: false)).to eq([:ping, ""])
      end
    end

    it "broadcasts the seed example's messages to every WebSocket and SSE client once" do
      clients = Array.new(3) { WS.open(@port, "/") }
      sse = SSE.open(@port, "/")
      expect(sse.response_headers["content-type"]).to eq("text/event-stream")
      sleep 0.2 # on_open subscribes
      clients[0].send_text("hello all")
      clients.each { |c| expect(c.read_message(timeout: 3)).to eq([:text, "hello all"]) }
      expect(sse.read_event(timeout: 3).data).to eq("hello all")
      clients.each { |c| expect { c.read_message(timeout: 0.3) }.to raise_error(WS::Timeout) }
    ensure
      clients&.each(&:disconnect)
      sse&.close
    end

    it "runs subscription blocks, matches Redis globs and skips empty messages" do
      WS.open(@port, "/echo") do |ws|
        ws.read_message(timeout: 3)
        ws.send_text("sub chan")
        ws.send_text("glob news.*")
        sleep 0.2
        ws.send_text("pub chan one")
        expect(ws.read_message(timeout: 3)).to eq([:text, "block:chan:one"])
        ws.send_text("pub weather rain")
        ws.send_text("pub news.sport goal")
        expect(ws.read_message(timeout: 3)).to eq([:text, "goal"])
      end
    end

    it "calls on_eventsource_reconnect with Last-Event-ID" do
      sse = SSE.open(@port, "/echo", last_event_id: "42")
      expect(sse.read_event(timeout: 3).data).to eq("open:sse")
      expect(sse.read_event(timeout: 3).data).to eq("reconnect:42")
      expect(sse.read_comment(timeout: 4)).to eq("ping")
    ensure
      sse&.close
    end

    it "echoes for an independent client (Debian's websocket-driver)" do
      require "websocket/driver"
      tcp = Socket.tcp("127.0.0.1", @port, connect_timeout: 5)
      # The driver wants an object with #url and #write; what is read is fed to #parse.
      io = Struct.new(:url, :tcp) { def write(data) = tcp.write(data) }.new("ws://127.0.0.1:#{@port}/echo", tcp)
      driver = WebSocket::Driver.client(io)
      got = []
      driver.on(:message) { |event| got << event.data }
      driver.on(:open) { driver.text("from driver") }
      driver.start
      deadline = IodineSpec.now + 5
      while got.size < 2 && (left = deadline - IodineSpec.now).positive?
        driver.parse(tcp.readpartial(65_536)) if IO.select([tcp], nil, nil, left)
      end
      expect(got).to eq(["open:websocket", "UTF-8:from driver"])
    ensure
      tcp&.close
    end

    it "still serves plain HTTP with rack.upgrade? unset" do
      res = get(@port, "/")
      expect(res.code).to eq("200")
      expect(res.body).not_to include("rack.upgrade?")
    end
  end

  it "runs on_shutdown and closes with 1001 on SIGTERM" do
    with_server("realtime.ru", threads: 1) do |server|
      ws = WS.open(server.port, "/echo")
      ws.read_message(timeout: 3)
      server.signal("TERM")
      expect(ws.read_message(timeout: 5)).to eq([:text, "bye"])
      expect(ws.read_message(timeout: 5)[0, 2]).to eq([:close, 1001])
      expect(server.wait(timeout: 10).exitstatus).to eq(0)
    end
  end

  it "delivers across a -w 2 cluster to subscribers on both workers once, in order", timeout: 90 do
    with_server("realtime.ru", threads: 2, flags: ["-w", "2"], ready_timeout: 20) do |server|
      # Sequential connections may all land on one worker: open more until
      # both workers hold some.
      clients = []
      pids = []
      until pids.uniq.size == 2 || clients.size >= 60
        c = WS.open(server.port, "/echo")
        c.read_message(timeout: 3)
        c.send_text("pid")
        pids << c.read_message(timeout: 3).last
        clients << c
      end
      expect(pids.uniq.size).to eq(2)
      clients.each { |c| c.send_text("glob seq") }
      sleep 0.3
      50.times { |i| clients[0].send_text("pub seq #{i}") }
      clients.each do |c|
        expect(c.read_messages(50, timeout: 10).map(&:last)).to eq(50.times.map(&:to_s))
      end
    ensure
      clients&.each(&:disconnect)
    end
  end

  describe "NeoRack (the seed's on_http example)" do
    serve_fixture "neorack.ru", threads: 2

    it "answers on_http with the request's parts and body" do
      res = post(@port, "/path?created", "line1\nline2")
      expect(res.code).to eq("201")
      expect(res["x-neo"]).to eq("1")
      expect(res.body).to include("path:    /path", "query:   created", "method:  POST", "line1\nline2")
    end

    it "upgrades when on_authenticate allows it, and not when it refuses" do
      WS.open(@port, "/") do |ws|
        ws.send_text("neo")
        expect(ws.read_message(timeout: 3)).to eq([:text, "neo"])
      end
      expect(WS.handshake_response(@port, "/?deny").status).to eq(200)
    end
  end
end
