# frozen_string_literal: true

require "spec_helper"

# Clients: Iodine::Connection.new(url, handler:) and Iodine.connect dial a
# WebSocket, an SSE stream or raw TCP from a process running Iodine. The
# client scripts (spec/fixtures/client_script.rb) print each callback and
# stop themselves on on_close; the peers are this server
# (spec/fixtures/client_peer.ru) or plain Ruby sockets in the test.
RSpec.describe "WebSocket, SSE and TCP clients" do
  def run_client(mode, url, timeout: 20, env: {})
    out, err, status = IodineSpec.run_command(
      { "MODE" => mode, "URL" => url, "PORT" => free_port.to_s }.merge(env),
      IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), IodineSpec.fixture("client_script.rb"),
      timeout: timeout
    )
    expect(status&.success?).to be(true), "client #{mode} failed (#{status.inspect}):\n#{out}\n#{err}"
    [out.force_encoding("UTF-8").lines.map(&:chomp), err]
  end

  # A one-connection peer on a Ruby TCPServer; the block gets the socket.
  def with_peer
    server = TCPServer.new("127.0.0.1", 0)
    thread = Thread.new do
      sock = server.accept
      yield sock
    ensure
      sock&.close
    end
    yield_port = server.addr[1]
    [yield_port, thread, server]
  end

  describe "against this server" do
    serve_fixture "client_peer.ru", threads: 2

    it "runs the seed README's WebSocket client (only its url changed): six messages echoed, then closed" do
      script = File.read(IodineSpec.fixture("seed_ws_client.rb"))
      expect(script).to include('"wss://echo.websocket.org"')
      path = File.join(Dir.mktmpdir("iodine-client"), "client.rb")
      File.write(path, script.sub("wss://echo.websocket.org", "ws://127.0.0.1:#{@port}/"))
      out, err, status = IodineSpec.run_command({}, IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), path)
      expect(status&.success?).to be(true), "#{out}\n#{err}"
      expect(out.lines.map(&:chomp)).to eq(
        ["Received: Hello World!", "Received: I'm alive and sending messages", "Received: I also receive messages",
         "Received: now that we all know this...", "Received: I can stop.", "Received: Goodbye.", "* Client closed."]
      )
      expect(err).to include("No listeners: clients only")
    end

    it "talks WebSocket in order: text and binary both ways, request headers, masked pub/sub frames, close last" do
      lines, = run_client("ws", "ws://127.0.0.1:#{@port}/chat")
      expect(lines.first).to eq("open websocket 127.0.0.1")
      messages = lines[1..4]
      expect(messages[0..2]).to eq(['message UTF-8 "hello ✓"', 'message ASCII-8BIT "\x00\x01\xFF"',
                                    'message UTF-8 "{\"HTTP_X_TOKEN\"=>\"abc\"}"'])
      expect(messages[3]).to eq('message UTF-8 "via pub/sub"')
      expect(lines[5..]).to eq(["close false", "stopped"])
    end

    it "reads an SSE stream (sse:// and http://): ids, event names, multi-line data" do
      %w[sse http].each do |scheme|
        lines, = run_client("sse", "#{scheme}://127.0.0.1:#{@port}/events")
        expect(lines).to eq(["open sse 127.0.0.1", 'event "1" "greet" "hello\nworld"', 'event "1" "" "plain ✓"',
                             'event "1" "" "last"', "close false", "stopped"])
      end
    end

    it "calls only on_close, with a warning, when the server refuses the upgrade" do
      lines, err = run_client("reject", "ws://127.0.0.1:#{@port}/reject")
      expect(lines).to eq(["close false", "stopped"])
      expect(err).to match(%r{client connection to ws://127.0.0.1:\d+/reject failed: .*403})
    end
  end

  it "calls only on_close when nothing listens" do
    lines, err = run_client("fail", "ws://127.0.0.1:#{free_port}/")
    expect(lines).to eq(["close false", "stopped"])
    expect(err).to match(/client connection to .* failed: .*refused/)
  end

  it "parses an event stream from an independent server: CR, LF and CRLF lines, comments, id kept, data-less events dropped" do
    port, thread, server = with_peer do |sock|
      sock.readpartial(4096) # the request
      sock.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n")
      body = ": a comment\r\nretry: 100\r\nid: 7\rdata: one\r\ndata:two\n\nevent: nothing\n\n" \
             "event: named\ndata\n\nid: 8\ndata: last\n\n"
      body.scan(/.{1,9}/m).each { |chunk| sock.write("#{chunk.bytesize.to_s(16)}\r\n#{chunk}\r\n") && sleep(0.01) }
      sock.write("0\r\n\r\n")
      sleep 1 # the client closes on "last"
    end
    lines, = run_client("sse", "http://127.0.0.1:#{port}/")
    expect(lines).to eq(["open sse 127.0.0.1", 'event "7" "" "one\ntwo"', 'event "7" "named" ""',
                         'event "8" "" "last"', "close false", "stopped"])
    thread.join(5)
  ensure
    server&.close
  end

  it "talks raw TCP with Iodine.connect, and on_timeout fires after its timeout" do
    received = +""
    port, thread, server = with_peer do |sock|
      sock.write("hi\n")
      received << sock.readpartial(100) # pong
      received << sock.readpartial(100) until received.include?("timed out") # on_timeout, after ~1 s of silence
    end
    lines, = run_client("tcp", "tcp://127.0.0.1:#{port}")
    expect(lines).to eq(["open raw 127.0.0.1", 'message ASCII-8BIT "hi\n"', "timeout", "close false", "stopped"])
    expect(received).to eq("pong\ntimed out\n")
    thread.join(5)
  ensure
    server&.close
  end

  # A dial takes up to 10 s; the connection exists meanwhile.
  { "conn.close" => "close_dialing", "Iodine.stop" => "stop_dialing" }.each do |what, mode|
    it "cancels a WebSocket dial on #{what}: on_close alone, long before the handshake timeout" do
      port, thread, server = with_peer { |sock| sock.wait_readable(8) && sleep(8) } # never answers
      started = now
      lines, err = run_client(mode, "ws://127.0.0.1:#{port}/", timeout: 8)
      expect(lines).to eq(["close false", "stopped"])
      expect(now - started).to be < 6
      expect(err).not_to match(/failed/) # a cancelled dial is not a failure worth a warning
    ensure
      server&.close
      thread&.kill
    end
  end

  it "refuses a url it can't dial, and a handler-less client, at once" do
    out, err, status = IodineSpec.run_ruby(
      'require "iodine"
       [["ftp://x/", { handler: Object.new }], ["ws://x/", {}], ["ws://x/", { handler: 1, service: :smtp }]].each do |url, o|
         Iodine::Connection.new(url, **o)
       rescue ArgumentError => e
         puts e.message
       end'
    )
    expect(status&.success?).to be(true), err
    expect(out.lines.map(&:chomp)).to eq(
      ["can't connect to \"ftp://x/\": use ws://, wss://, sse://, http(s)://, tcp:// or unix://",
       "a client needs a handler: Iodine::Connection.new(url, handler: obj)",
       "service :smtp is not a client service (:websocket, :sse, :raw)"]
    )
  end
end
