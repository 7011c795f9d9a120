# frozen_string_literal: true

require_relative "spec_helper"

# WebSockets end to end: the real server (exe/iodine -w 0) serving
# spec/fixtures/ws_echo.ru (an echo handler with commands, and GET
# /stats/<id> telling which callbacks ran for connection <id>) or
# spec/fixtures/ws_neorack.ru (a Rack app that is its own handler), driven
# by the raw client in spec/support/ws_client.rb, which sends exactly the
# frames it is told to, valid or not. Every wait is bounded.
RSpec.describe "WebSocket" do
  # --- helpers ---------------------------------------------------------

  def ws_open(path = "/", port: @port, **opts, &block)
    IodineSpec::WSClient.open(port, path, timeout: 5, **opts, &block)
  end

  # Opens a connection, reads the fixture's "open <id>" greeting and yields
  # the client and the connection's id.
  def ws_session(path = "/", port: @port, **opts)
    ws_open(path, port: port, **opts) do |ws|
      kind, text = ws.read_message(timeout: 3)
      expect(kind).to eq(:text)
      expect(text).to match(/\Aopen \d+\z/)
      yield ws, Integer(text.split.last)
    end
  end

  # The fixture's record of connection id: {"log" => [...], "after_close" => {...}}.
  def stats(id, port: @port)
    JSON.parse(get(port, "/stats/#{id}", timeout: 5).body)
  end

  # Waits (bounded) until on_close ran for the connection; returns its stats.
  def stats_after_close(id, port: @port, timeout: 5)
    wait_until(timeout: timeout) do
      s = stats(id, port: port)
      s if s["log"].include?("close")
    end || stats(id, port: port)
  end

  # A fresh connection still echoes: the server survived what came before.
  def expect_echo_works(port: @port)
    ws_session(port: port) do |ws, _id|
      ws.send_text("still here")
      expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:still here"])
    end
  end

  # The server must end the connection: with a close frame whose code is
  # one of `codes` or, if drop_ok, by just closing TCP; and never deliver an
  # echo first. Then TCP must be closed.
  def expect_closed_with(ws, *codes, drop_ok: true)
    message = begin
      ws.read_message(timeout: 3)
    rescue IodineSpec::WSClient::Closed, Errno::EPIPE, Errno::ECONNRESET
      [:dropped]
    end
    if message.first == :dropped
      expect(drop_ok).to be(true), "connection dropped without a close frame (expected #{codes.inspect})"
    else
      expect(message.first).to eq(:close), "expected a close #{codes.inspect}, got #{message.inspect}"
      expect(codes).to include(message[1]), "close code #{message[1].inspect}, expected one of #{codes.inspect}"
    end
    expect(ws.wait_closed(timeout: 3)).to be(true), "TCP connection left open"
    ws.disconnect # as a browser does once the server closed: on_close need not wait for a timeout
  end

  def server_rss_kb(server)
    File.read("/proc/#{server.pid}/status")[/^VmRSS:\s+(\d+)/, 1].to_i
  end

  # --- one server, -t 4, -maxms 1 (1 KB) --------------------------------

  describe "with -t 4 -maxms 1" do
    serve_fixture "ws_echo.ru", threads: 4, flags: ["-maxms", "1"]

    describe "handshake" do
      it "answers 101 with Upgrade, Connection, Sec-WebSocket-Accept and the app's headers" do
        ws_session do |ws, _id|
          # WSClient.open already checked the status and Sec-WebSocket-Accept.
          expect(ws.response_status).to eq(101)
          expect(ws.response_headers["upgrade"].to_s.downcase).to eq("websocket")
          expect(ws.response_headers["connection"].to_s.downcase).to include("upgrade")
          expect(ws.response_headers["x-upgrade-app"]).to eq("yes")
          expect(ws.response.head).to include("\r\nx-upgrade-app: yes\r\n") # the app's own case
          expect(ws.protocol).to be_nil
        end
      end

      it "delivers a frame the client sent right behind its upgrade request" do
        IodineSpec::RawClient.open(@port, timeout: 5) do |raw|
          key = Base64.strict_encode64(SecureRandom.random_bytes(16))
          raw.write("GET / HTTP/1.1\r\nHost: 127.0.0.1:#{@port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                    "Sec-WebSocket-Key: #{key}\r\nSec-WebSocket-Version: 13\r\n\r\n" +
                    IodineSpec::WSClient.encode_frame(opcode: :text, payload: "early"))
          res = raw.read_response(timeout: 5)
          expect(res.status).to eq(101)
          ws = IodineSpec::WSClient.new(raw.socket, res, raw.buffered.slice!(0, raw.buffered.bytesize),
                                        timeout: 5, offered_deflate: false)
          got = ws.read_messages(2, timeout: 3)
          expect(got[0].last).to match(/\Aopen \d+\z/)
          expect(got[1]).to eq([:text, "UTF-8:early"])
        end
      end

      it "selects the subprotocol the app names in its response headers" do
        ws_session(protocols: %w[superchat chat]) do |ws, _id|
          expect(ws.protocol).to eq("chat")
        end
      end

      it "still answers plain HTTP on the same app" do
        res = get(@port, "/")
        expect(res.code).to eq("200")
        expect(res.body).to eq("plain http")
      end

      it "sets rack.upgrade? to nil for plain requests, :websocket for an upgrade, :sse for an event stream" do
        expect(get(@port, "/probe").body).to eq("upgrade?=nil")
        expect(get(@port, "/probe", headers: { "Accept" => "text/event-stream" }).body).to eq("upgrade?=:sse")
        # The app does not accept the upgrade here, so it answers as HTTP.
        res = IodineSpec::WSClient.handshake_response(@port, "/probe")
        expect(res.status).to eq(200)
        expect(res.body).to eq("upgrade?=:websocket")
      end

      it "does not offer :websocket for an invalid handshake (version 8, short key)" do
        res = IodineSpec::WSClient.handshake_response(@port, "/probe", headers: { "Sec-WebSocket-Version" => "8" })
        expect(res.body).to eq("upgrade?=nil")
        res = IodineSpec::WSClient.handshake_response(@port, "/probe", headers: { "Sec-WebSocket-Key" => "c2hvcnQ=" })
        expect(res.body).to eq("upgrade?=nil")
      end

      it "does not upgrade when the app answers with a status of 300 or more" do
        res = IodineSpec::WSClient.handshake_response(@port, "/refuse")
        expect(res.status).to eq(403)
        expect(res.body).to eq("refused")
        expect_echo_works
      end

      it "upgrades when the app answers [0, {}, []] as iodine 0.7's README does" do
        ws_session("/zero") do |ws, _id|
          ws.send_text("zero")
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:zero"])
        end
      end
    end

    describe "messages" do
      it "hands text frames to on_message as UTF-8 strings and binary frames as ASCII-8BIT" do
        ws_session do |ws, _id|
          ws.send_text("h\u00e9llo \u{1F600}")
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:h\u00e9llo \u{1F600}"])
          ws.send_binary("\xFF\x00bin".b)
          expect(ws.read_message(timeout: 3)).to eq([:binary, "ASCII-8BIT:\xFF\x00bin".b])
          ws.send_binary("ascii only".b) # still binary, even if it is valid UTF-8
          expect(ws.read_message(timeout: 3)).to eq([:binary, "ASCII-8BIT:ascii only".b])
          ws.send_text("")
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:"])
        end
      end

      it "sends a UTF-8 string as one unmasked text frame and a binary string as a binary frame" do
        ws_session do |ws, _id|
          ws.send_text("utf8")
          frame = ws.read_frame(timeout: 3)
          expect([frame.opcode, frame.fin, frame.masked, frame.rsv1]).to eq([:text, true, false, false])
          expect(frame.payload.force_encoding("UTF-8")).to eq("h\u00e9llo")
          ws.send_text("binary")
          frame = ws.read_frame(timeout: 3)
          expect([frame.opcode, frame.fin, frame.masked]).to eq([:binary, true, false])
          expect(frame.payload).to eq("\x00\x01\xFF".b)
        end
      end

      it "reassembles fragmented messages, even split inside a UTF-8 character" do
        ws_session do |ws, _id|
          text = "h\u00e9llo w\u00f6rld \u20ac"
          ws.send_fragmented(text, 7) # byte offsets: some cuts fall inside é, ö, €
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:#{text}"])
          ws.send_fragmented("\x00\x01\x02\x03\x04".b, 5, opcode: :binary)
          expect(ws.read_message(timeout: 3)).to eq([:binary, "ASCII-8BIT:\x00\x01\x02\x03\x04".b])
        end
      end

      it "answers a ping sent between fragments, then delivers the whole message" do
        ws_session do |ws, _id|
          ws.send_frame(opcode: :text, payload: "Hel", fin: false)
          ws.ping("mid")
          ws.send_frame(opcode: :continuation, payload: "lo", fin: true)
          expect(ws.read_message(timeout: 3, reply: false)).to eq([:pong, "mid"])
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:Hello"])
        end
      end

      it "answers pings with pongs carrying the same payload, and ignores unsolicited pongs" do
        ws_session do |ws, _id|
          ws.ping("")
          expect(ws.read_message(timeout: 3, reply: false)).to eq([:pong, ""])
          payload = "#{"\x00\xFFp".b * 41}xx" # 125 bytes, the most a control frame holds
          ws.ping(payload)
          expect(ws.read_message(timeout: 3, reply: false)).to eq([:pong, payload])
          ws.pong("unsolicited")
          ws.send_text("after pong")
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:after pong"])
        end
      end
    end

    describe "callback order" do
      it "runs on_open first, each message in order, on_close last, never two at once" do
        ws_open do |ws|
          # Sent before on_open's greeting arrives: on_open must still run first.
          200.times { |i| ws.send_text("m#{i}") }
          got = ws.read_messages(201, timeout: 10)
          id = Integer(got.first.last[/\Aopen (\d+)\z/, 1] || raise("first message #{got.first.inspect}"))
          expect(got.drop(1)).to eq(200.times.map { |i| [:text, "UTF-8:m#{i}"] })
          ws.close(1000)
          expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 1000])
          expect(ws.wait_closed(timeout: 3)).to be(true)
          ws.disconnect
          s = stats_after_close(id)
          expect(s["log"]).to eq(["open", *200.times.map { |i| "msg:m#{i}" }, "close"])
          # In on_close the connection reports itself closed.
          expect(s["after_close"]).to eq("open" => false, "write" => false, "pending" => -1)
        end
      end

      it "keeps each connection's order with several clients sending at once" do
        clients = Array.new(6) { ws_open }
        clients.each { |ws| ws.read_message(timeout: 3) }
        100.times { |i| clients.each_with_index { |ws, n| ws.send_text("c#{n}-#{i}") } }
        clients.each_with_index do |ws, n|
          expect(ws.read_messages(100, timeout: 10)).to eq(100.times.map { |i| [:text, "UTF-8:c#{n}-#{i}"] })
        end
      ensure
        clients&.each(&:disconnect)
      end

      it "runs on_close when the client drops the TCP connection without a close frame" do
        id = nil
        ws_session do |ws, conn_id|
          id = conn_id
          ws.send_text("bye")
          ws.read_message(timeout: 3)
        end
        expect(stats_after_close(id)["log"]).to eq(%w[open msg:bye close])
      end
    end

    describe "closing" do
      it "answers a client's close 4001 with close 4001, closes TCP and runs on_close" do
        ws_session do |ws, id|
          ws.close(4001, "going")
          expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 4001])
          expect(ws.wait_closed(timeout: 3)).to be(true)
          ws.disconnect
          expect(stats_after_close(id)["log"].last).to eq("close")
        end
      end

      # RFC 6455 7.1.1: after the handshake the server closes TCP first; the
      # linger that waits for a client's reply is not for a finished handshake.
      it "closes TCP and runs on_close at once after a close handshake, while the client keeps its socket" do
        [["close 1000 from the client", ->(ws) { ws.close(1000) }, %w[open close]],
         ["conn.close on the server", ->(ws) { ws.send_text("close") }, %w[open msg:close close]]].each do |what, start, log|
          ws_session do |ws, id|
            start.call(ws)
            expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 1000]), what # read_message answers a close
            expect(ws.wait_closed(timeout: 1.2)).to be(true), "#{what}: TCP still open 1.2 s after the handshake"
            expect(stats_after_close(id, timeout: 1)["log"]).to eq(log), what
          end
        end
      end

      it "answers an empty close frame and closes TCP" do
        ws_session do |ws, _id|
          ws.close(nil)
          kind, code, = ws.read_message(timeout: 3)
          expect(kind).to eq(:close)
          expect([nil, 1000]).to include(code)
          expect(ws.wait_closed(timeout: 3)).to be(true)
        end
      end

      it "sends close 1000 on conn.close, closes TCP after the client's answer and runs on_close" do
        ws_session do |ws, id|
          ws.send_text("close")
          expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 1000]) # the client answers it
          expect(ws.wait_closed(timeout: 3)).to be(true)
          ws.disconnect
          expect(stats_after_close(id)["log"]).to eq(%w[open msg:close close])
        end
      end

      it "delivers nothing the client sends after its close frame" do
        ws_session do |ws, id|
          ws.close(1000)
          ws.send_text("too late")
          expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 1000])
          expect(ws.wait_closed(timeout: 3)).to be(true)
          ws.disconnect
          expect(stats_after_close(id)["log"]).to eq(%w[open close])
        end
      end
    end

    describe "protocol errors (close 1002 or a dropped connection; the server keeps serving)" do
      {
        "an unmasked client frame" => { opcode: :text, payload: "x", mask: false },
        "a reserved data opcode (0x3)" => { opcode: 0x3, payload: "x" },
        "a reserved control opcode (0xB)" => { opcode: 0xB, payload: "" },
        "RSV1 without a negotiated extension" => { opcode: :text, payload: "x", rsv1: true },
        "RSV2" => { opcode: :text, payload: "x", rsv2: true },
        "RSV3" => { opcode: :binary, payload: "x", rsv3: true },
        "a fragmented ping" => { opcode: :ping, payload: "x", fin: false },
        "a ping with 126 bytes of payload" => { opcode: :ping, payload: "p" * 126 },
        "a continuation with no message to continue" => { opcode: :continuation, payload: "x" },
        "a close frame with code 1005 (never sent on the wire)" => { opcode: :close, payload: [1005].pack("n") },
        "a close frame with code 999" => { opcode: :close, payload: [999].pack("n") }
      }.each do |what, frame|
        it "rejects #{what}" do
          ws_session do |ws, id|
            ws.send_frame(**frame)
            expect_closed_with(ws, 1002)
            log = stats_after_close(id)["log"]
            expect(log).to eq(%w[open close]), "the app saw #{log.inspect}"
          end
          expect_echo_works
        end
      end

      # A 1-byte close payload (Autobahn 7.3.2): fasthttp/websocket reads it
      # as "no status", so the server's read pass catches it first.
      it "rejects a close frame with a 1-byte payload" do
        ws_session do |ws, id|
          ws.send_frame(opcode: :close, payload: "x")
          expect_closed_with(ws, 1002)
          expect(stats_after_close(id)["log"]).to eq(%w[open close])
        end
        expect_echo_works
      end

      it "rejects a 1-byte close payload that arrives behind a message and in pieces" do
        ws_session do |ws, id|
          frame = IodineSpec::WSClient.encode_frame(opcode: :close, payload: "x")
          ws.send_frame(opcode: :text, payload: "before")
          ws.send_raw(frame[0, 3])
          sleep 0.1
          ws.send_raw(frame[3..])
          expect(ws.read_message).to eq([:text, "UTF-8:before"])
          expect_closed_with(ws, 1002)
          expect(stats_after_close(id)["log"]).to eq(%w[open msg:before close])
        end
        expect_echo_works
      end

      it "rejects a new text frame inside a fragmented message" do
        ws_session do |ws, _id|
          ws.send_frame(opcode: :text, payload: "part", fin: false)
          ws.send_frame(opcode: :text, payload: "other")
          expect_closed_with(ws, 1002)
        end
        expect_echo_works
      end

      it "rejects a close reason that is not UTF-8 (1002 or 1007)" do
        ws_session do |ws, _id|
          ws.send_frame(opcode: :close, payload: [1000].pack("n") + "\xC3\x28".b)
          expect_closed_with(ws, 1002, 1007)
        end
      end

      it "closes with 1007 on a text message that is not UTF-8, whole or fragmented" do
        ["\xC3\x28".b, "ok \xE2\x82".b, "\xED\xA0\x80".b].each do |bad| # bad byte, truncated, a surrogate
          ws_session do |ws, id|
            ws.send_frame(opcode: :text, payload: bad)
            expect_closed_with(ws, 1007, drop_ok: false)
            expect(stats_after_close(id)["log"]).to eq(%w[open close])
          end
        end
        ws_session do |ws, _id|
          ws.send_frame(opcode: :text, payload: "fine ", fin: false)
          ws.send_frame(opcode: :continuation, payload: "\xFF".b, fin: true)
          expect_closed_with(ws, 1007, drop_ok: false)
        end
        expect_echo_works
      end

      it "stays alive and logs no panic after all of these" do
        expect(@server.alive?).to be(true)
        expect(@server.output).not_to match(/panic|goroutine \d+|SIGSEGV/)
        expect_echo_works
      end
    end

    describe "-maxms (message size limit, KB)" do
      it "accepts a message of exactly the limit and closes with 1009 one byte above it" do
        ws_session do |ws, _id|
          ws.send_text("a" * 1024)
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:#{"a" * 1024}"])
          ws.send_text("b" * 1025)
          expect_closed_with(ws, 1009, drop_ok: false)
        end
        expect(@server.wait_for_log(/message over 1024 bytes/, timeout: 3)).to be_truthy
        expect_echo_works
      end

      it "closes with 1009 at once on a frame announcing 2^62 bytes" do
        ws_session do |ws, _id|
          ws.send_frame(opcode: :binary, payload: "", length_override: 2**62)
          expect_closed_with(ws, 1009, drop_ok: false)
        end
        expect_echo_works
      end

      it "closes with 1009 when a fragmented message grows past the limit" do
        ws_session do |ws, _id|
          ws.send_frame(opcode: :text, payload: "c" * 300, fin: false)
          4.times { ws.send_frame(opcode: :continuation, payload: "c" * 300, fin: false) }
          ws.send_frame(opcode: :continuation, payload: "end", fin: true)
          expect_closed_with(ws, 1009, drop_ok: false)
        end
      end

      it "closes with 1009 on a big message sent whole (2000 bytes)" do
        ws_session do |ws, _id|
          ws.send_binary("z" * 2000)
          expect_closed_with(ws, 1009, drop_ok: false)
        end
      end

      it "applies the limit to the inflated size of a compressed message (no decompression bomb)" do
        ws_session(extensions: "permessage-deflate") do |ws, id|
          expect(ws.deflate?).to be(true)
          # 200 KB of one letter deflates to a few hundred bytes: under the
          # 1 KB limit on the wire, 200 times over it once inflated.
          ws.send_text("q" * 200_000, compress: true)
          got = begin
            ws.read_message(timeout: 3)
          rescue IodineSpec::WSClient::Closed
            [:dropped]
          end
          summary = got.first == :text ? [:text, "#{got.last.bytesize} bytes"] : got[0, 2]
          expect(summary).to eq([:close, 1009]), "expected close 1009, got #{summary.inspect} " \
                                                 "(the app's log: #{stats(id)["log"].inspect})"
        end
      end
    end

    describe "permessage-deflate" do
      it "is negotiated when offered and compressed messages are decoded" do
        ws_session(extensions: "permessage-deflate; client_max_window_bits") do |ws, _id|
          expect(ws.response_headers["sec-websocket-extensions"]).to include("permessage-deflate")
          expect(ws.deflate?).to be(true)
          3.times do |i|
            ws.send_text("squeeze me #{i} " * 20, compress: true)
            expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:#{"squeeze me #{i} " * 20}"])
          end
          ws.send_binary("\x00\xFF".b * 100, compress: true)
          expect(ws.read_message(timeout: 3)).to eq([:binary, "ASCII-8BIT:".b + ("\x00\xFF".b * 100)])
          ws.send_fragmented("fragmented and compressed " * 10, 4, compress: true)
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:#{"fragmented and compressed " * 10}"])
          ws.send_text("not compressed") # RSV1 is per message
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:not compressed"])
        end
      end

      it "is not negotiated when the client does not offer it" do
        ws_session do |ws, _id|
          expect(ws.response_headers).not_to have_key("sec-websocket-extensions")
          expect(ws.deflate?).to be(false)
        end
      end
    end

    describe "exceptions in callbacks" do
      it "logs an exception raised in on_message and the connection keeps working" do
        ws_session do |ws, id|
          ws.send_text("raise")
          ws.send_text("after the raise")
          expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:after the raise"])
          expect(@server.wait_for_log(/boom from on_message #{id}/, timeout: 3)).to be_truthy
        end
        expect_echo_works
      end

      it "logs an exception raised in on_open and keeps serving others" do
        ws_open("/?raise_on_open") do |ws|
          ws.send_text("hello?")
          # What this connection does next is the server's choice; it must not hang.
          begin
            ws.read_message(timeout: 3)
          rescue IodineSpec::WSClient::Closed
            nil
          end
        end
        expect(@server.wait_for_log(/boom from on_open \d+/, timeout: 3)).to be_truthy
        expect_echo_works
      end
    end

    describe "an independent client (Debian's websocket-driver)" do
      it "does an echo round trip and a close handshake" do
        begin
          require "websocket/driver"
        rescue LoadError
          skip "ruby-websocket-driver is not installed (apt-get install ruby-websocket-driver)"
        end
        tcp = Socket.tcp("127.0.0.1", @port, connect_timeout: 5)
        # The driver wants an object with #url and #write; what is read is fed to #parse.
        io = Struct.new(:url, :tcp) { def write(data) = tcp.write(data) }.new("ws://127.0.0.1:#{@port}/", tcp)
        driver = WebSocket::Driver.client(io)
        got = []
        closed = nil
        driver.on(:open) do
          driver.text("from driver \u00e9")
          driver.binary([1, 2, 255])
        end
        driver.on(:message) do |event|
          got << event.data
          driver.close("done", 1000) if got.size == 3
        end
        driver.on(:close) { |event| closed = event.code }
        driver.start
        deadline = IodineSpec.now + 5
        while closed.nil? && (left = deadline - IodineSpec.now).positive?
          next unless IO.select([tcp], nil, nil, left)

          chunk = tcp.read_nonblock(65_536, exception: false)
          break if chunk.nil?

          driver.parse(chunk) if chunk.is_a?(String)
        end
        expect(got[0]).to match(/\Aopen \d+\z/)
        expect(got[1]).to eq("UTF-8:from driver \u00e9")
        expect(got[2]).to eq("ASCII-8BIT:".bytes + [1, 2, 255]) # binary messages come as byte arrays
        expect(closed).to eq(1000)
      ensure
        tcp&.close
      end
    end
  end

  # --- a Rack app that is its own handler (seed README style) ------------

  describe "NeoRack-style callbacks on the Rack app itself" do
    serve_fixture "ws_neorack.ru", threads: 2

    it "upgrades with env['rack.upgrade'] = self" do
      ws_open("/explicit") do |ws|
        expect(ws.read_message(timeout: 3)).to eq([:text, "neo open websocket /explicit"])
        ws.send_text("hi")
        expect(ws.read_message(timeout: 3)).to eq([:text, "neo:hi"])
      end
    end

    it "upgrades an app that defines on_open/on_message without naming a handler" do
      ws_open("/implicit") do |ws|
        expect(ws.read_message(timeout: 3)).to eq([:text, "neo open websocket /implicit"])
        ws.send_text("there")
        expect(ws.read_message(timeout: 3)).to eq([:text, "neo:there"])
        ws.close(1000)
        expect(ws.read_message(timeout: 3)[0, 2]).to eq([:close, 1000])
      end
      expect(@server.wait_for_log(%r{neo closed websocket /implicit}, timeout: 3)).to be_truthy
    end

    it "does not upgrade when on_authenticate_websocket refuses, answering with call's response" do
      res = IodineSpec::WSClient.handshake_response(@port, "/?deny")
      expect(res.status).to eq(200)
      expect(res.body).to eq("plain :websocket")
    end

    it "answers plain HTTP with call" do
      expect(get(@port, "/").body).to eq("plain nil")
    end

    it "serves an SSE request with the same callbacks" do
      IodineSpec::SSEClient.open(@port, "/implicit", timeout: 5) do |sse|
        expect(sse.response_status).to eq(200)
        expect(sse.read_event(timeout: 3).data).to eq("neo open sse /implicit")
      end
      expect(@server.wait_for_log(%r{neo closed sse /implicit}, timeout: 3)).to be_truthy
    end
  end

  # --- keep-alive pings --------------------------------------------------

  describe "with -ping 1" do
    serve_fixture "ws_echo.ru", threads: 2, flags: ["-ping", "1"]

    it "pings an idle client within about 3 s" do
      ws_session do |ws, _id|
        expect(ws.read_message(timeout: 3, reply: false)).to eq([:ping, ""])
      end
    end

    it "pings every interval, not every interval plus a second" do
      ws_session do |ws, _id|
        pings = 0
        deadline = now + 4.5
        while now < deadline
          begin
            next unless ws.read_message(timeout: 0.2, reply: false) == [:ping, ""]

            pings += 1
            ws.pong # an answer keeps the connection open past three intervals
          rescue IodineSpec::WSClient::Timeout
            nil
          end
        end
        expect(pings).to be >= 3, "#{pings} pings in 4.5 s with -ping 1"
      end
    end

    it "keeps a client that answers pings and cuts off one that does not", timeout: 30 do
      ws_session do |alive, _|
        ws_session do |silent, silent_id|
          # alive answers every ping (read_message with reply: true pongs and
          # keeps waiting); silent reads nothing and answers nothing, and is
          # cut off after three intervals without a word.
          deadline = now + 8
          until silent.closed? || now > deadline
            begin
              alive.read_message(timeout: 0.2)
            rescue IodineSpec::WSClient::Timeout
              nil
            end
          end
          expect(silent.closed?).to be(true), "a client that never answers pings is still connected after 8 s"
          expect(stats_after_close(silent_id)["log"]).to eq(%w[open close])
          alive.send_text("still open")
          expect(alive.read_message(timeout: 3)).to eq([:text, "UTF-8:still open"])
        end
      end
    end
  end

  # --- backpressure: one Ruby thread, writes that must never block -----

  describe "backpressure with -t 1" do
    serve_fixture "ws_echo.ru", threads: 1

    it "keeps serving others while a client that does not read is flooded, then cuts it off", timeout: 40 do
      rss_before = server_rss_kb(@server)
      ws_session do |flooded, flood_id|
        flooded.send_text("flood") # 2,000 x 64 KB = 125 MiB, and this client reads nothing
        # The single Ruby thread must come back from those writes at once.
        t = now
        expect_echo_works
        expect(now - t).to be < 3
        expect(get(@port, "/stats/#{flood_id}", timeout: 3).code).to eq("200")
        # Past the 16 MiB bound the connection is closed, not buffered further.
        expect(@server.wait_for_log(/connection \d+: closed, its client is \d+ bytes behind/, timeout: 10))
          .to be_truthy
        flood_entry = wait_until(timeout: 5) { stats(flood_id)["log"].find { |e| e.start_with?("flood:") } }
        expect(flood_entry).not_to be_nil
        accepted = Integer(flood_entry.split(":").last)
        expect(accepted).to be_between(1, 1999), "#{accepted} of 2000 writes accepted"
        # The client gets some of the data, then the end of the connection.
        received = 0
        begin
          loop { received += flooded.read_frame(timeout: 10).payload.bytesize }
        rescue IodineSpec::WSClient::Closed
          nil
        end
        expect(received).to be > 0
        expect(received).to be < 2000 * 65_536
        expect(stats_after_close(flood_id)["log"].last).to eq("close")
      end
      rss_after = server_rss_kb(@server)
      expect(rss_after - rss_before).to be < 100_000, "RSS grew from #{rss_before} KB to #{rss_after} KB"
      expect_echo_works
    end

    # Past 1 MiB of messages waiting for the handler the server stops
    # reading (TCP holds the rest), then goes on where it stopped.
    it "stops reading a client far ahead of its slow handler, then delivers everything in order", timeout: 40 do
      ws_session do |ws, _id|
        ws.send_text("sleep")
        sent = Array.new(3000) { |i| format("%06d", i) + ("m" * 994) } # 3 MB
        writer = Thread.new { sent.each { |m| ws.send_text(m) } }
        got = Array.new(sent.size) { ws.read_message(timeout: 20).last }
        writer.join(5)
        expect(got.map { |m| m[6, 6] }).to eq(sent.map { |m| m[0, 6] })
        expect(got.last).to eq("UTF-8:#{sent.last}")
      end
      expect_echo_works
    end

    it "reports pending bytes after a big write and calls on_drained once they are sent" do
      ws_session do |ws, id|
        ws.send_text("big 4000000")
        big = ws.read_message(timeout: 10)
        expect(big.first).to eq(:binary)
        expect(big.last.bytesize).to eq(4_000_000)
        kind, text = ws.read_message(timeout: 3)
        expect(kind).to eq(:text)
        # >= 0: open; on a fast loopback the 4 MB may already be sent by now
        expect(Integer(text[/\Apending:(-?\d+)\z/, 1] || raise("got #{text.inspect}"))).to be >= 0
        expect(ws.read_message(timeout: 3)).to eq([:text, "drained"])
        expect(stats(id)["log"]).to include("drained")
      end
    end

    it "does not cut off a slow reader whose backlog stays under the bound" do
      ws_session do |ws, _id|
        ws.send_text("big 8000000")
        sleep 1 # read nothing for a while
        big = ws.read_message(timeout: 10)
        expect([big.first, big.last.bytesize]).to eq([:binary, 8_000_000])
        expect(ws.read_message(timeout: 3).last).to match(/\Apending:\d+\z/)
        expect(ws.read_message(timeout: 3)).to eq([:text, "drained"])
        ws.send_text("after")
        expect(ws.read_message(timeout: 3)).to eq([:text, "UTF-8:after"])
      end
    end
  end

  # --- shutdown ----------------------------------------------------------

  describe "on SIGTERM" do
    it "runs on_shutdown, sends its message, then close 1001, runs on_close and exits 0" do
      with_server("ws_echo.ru", threads: 2) do |server|
        clients = Array.new(2) { ws_open(port: server.port) }
        ids = clients.map { |ws| Integer(ws.read_message(timeout: 3).last.split.last) }
        server.signal("TERM")
        clients.each do |ws|
          expect(ws.read_message(timeout: 5)).to eq([:text, "bye"])
          expect(ws.read_message(timeout: 5)[0, 2]).to eq([:close, 1001])
          expect(ws.wait_closed(timeout: 5)).to be(true)
          ws.disconnect
        end
        status = server.wait(timeout: 10)
        expect(status&.exitstatus).to eq(0), "exit status #{status.inspect}\n#{server.output}"
        ids.each { |id| expect(server.stderr).to include("ws closed #{id}") }
      ensure
        clients&.each(&:disconnect)
      end
    end
  end
end
