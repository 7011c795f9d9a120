# frozen_string_literal: true

# Self-check of WSClient and SSEClient against independent servers, run by
# hand after changing either client:
#
#   ruby spec/support/ws_client_check.rb
#
# Needs Debian's puma and ruby-faye-websocket (which pulls ruby-eventmachine
# and ruby-websocket-driver); python3-websockets (for /usr/bin/python3)
# adds a permessage-deflate interop check, skipped without it. Exits 1 if
# any check fails. spec_helper loads every file in spec/support, so
# everything below runs only when this file is the program.
return unless File.expand_path($PROGRAM_NAME) == File.expand_path(__FILE__)

require "tmpdir"
require "websocket/driver"
require_relative "ws_client"
require_relative "sse_client"

module IodineSpec
  # Runs the checks; each failure is printed and counted.
  module WSClientCheck
    module_function

    # The reference server: faye-websocket and Faye::EventSource under puma,
    # plus raw endpoints replaying the byte-exact examples of RFC 6455 5.7 and
    # RFC 7692 7.2.3 (which no library sends on demand: fragments, a ping
    # between them, 16- and 64-bit lengths, compressed frames).
    CONFIG_RU = <<~'RUBY'
      require "faye/websocket"
      require "digest"
      require "base64"

      HELLO = "\x81\x05Hello".b
      FRAGMENTED_WITH_PING = "\x01\x03Hel\x89\x05Hello\x80\x02lo".b
      BINARY_256 = "\x82\x7E\x01\x00".b + ("a" * 256)
      BINARY_64K = "\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00".b + ("b" * 65_536)
      DEFLATED_HELLO = "\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00".b
      DEFLATED_HELLO_AGAIN = "\xc1\x05\xf2\x00\x11\x00\x00".b

      def accept(env, extra = "")
        key = Base64.strict_encode64(Digest::SHA1.digest(env["HTTP_SEC_WEBSOCKET_KEY"] +
                                                         "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
        env["rack.hijack"].call
        io = env["rack.hijack_io"]
        io.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                 "Sec-WebSocket-Accept: #{key}\r\n#{extra}\r\n")
        io
      end

      # Reads one masked client frame (payload < 126 bytes), bounded.
      def client_frame(io)
        head = +"".b
        head << io.readpartial(64) while head.bytesize < 6 && IO.select([io], nil, nil, 3)
        len = head.getbyte(1) & 0x7F
        head << io.readpartial(256) while head.bytesize < 6 + len && IO.select([io], nil, nil, 3)
        key = head.byteslice(2, 4).bytes
        [head.getbyte(0), head.byteslice(6, len).bytes.each_with_index.map { |b, i| b ^ key[i % 4] }.pack("C*")]
      end

      def finish(io)
        io.write("\x88\x02\x03\xe8".b)
        IO.select([io], nil, nil, 2)
        io.close
        [-1, {}, []]
      end

      run(lambda do |env|
        case env["PATH_INFO"]
        when "/echo"
          unless Faye::WebSocket.websocket?(env)
            return [400, { "content-type" => "text/plain" }, ["not a WebSocket request"]]
          end

          ws = Faye::WebSocket.new(env, ["chat"])
          ws.on(:message) do |event|
            if event.data == "ping-me"
              ws.ping("Hello") { ws.send("got pong") }
            else
              ws.send(event.data)
            end
          end
          ws.rack_response
        when "/rfc6455"
          io = accept(env)
          io.write(HELLO + FRAGMENTED_WITH_PING + BINARY_256 + BINARY_64K)
          byte0, payload = client_frame(io)
          io.write(byte0 == 0x8A && payload == "Hello" ? "\x81\x08pong: ok".b : "\x81\x0Apong: bad!".b)
          finish(io)
        when "/rfc7692"
          io = accept(env, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
          io.write(DEFLATED_HELLO + DEFLATED_HELLO_AGAIN)
          finish(io)
        when "/events"
          es = Faye::EventSource.new(env, retry: 2)
          es.on(:open) do
            es.send("one", id: "1")
            es.send("line 1\nline 2", event: "multi", id: "2")
            es.ping
            es.send(env["HTTP_LAST_EVENT_ID"].to_s, event: "last-id")
          end
          es.rack_response
        when "/stream"
          body = [": hello\n\n", "id: 7\nevent: tick\ndata: a\ndata: b\n\n", "retry: 1500\n\n",
                  "data: crlf\r\n\r\n", "data: cr\r\r", "data:no-space\n\n"]
          [200, { "content-type" => "text/event-stream" }, body.each]
        else
          [200, { "content-type" => "text/plain" }, ["plain page"]]
        end
      end)
    RUBY

    PYTHON_ECHO = <<~'PY'
      import asyncio, websockets

      async def echo(ws, *_):
          async for message in ws:
              await ws.send(message)

      async def main():
          async with websockets.serve(echo, "127.0.0.1", 0) as server:
              print(server.sockets[0].getsockname()[1], flush=True)
              await asyncio.Future()

      asyncio.run(main())
    PY

    def run
      @failures = 0
      Dir.mktmpdir("ws-client-check") do |dir|
        File.write(File.join(dir, "config.ru"), CONFIG_RU)
        with_puma(dir) do |port|
          local_checks
          websocket_checks(port)
          sse_checks(port)
          check("websocket-driver client round trip") do
            expect_eq(driver_echo(port, "/echo", "via driver"), "via driver")
          end
        end
        deflate_interop(dir)
      end
      puts(@failures.zero? ? "all checks passed" : "#{@failures} check(s) failed")
      exit(@failures.zero? ? 0 : 1)
    end

    def check(name)
      yield
      puts "ok    #{name}"
    rescue StandardError => e
      @failures += 1
      puts "FAIL  #{name}: #{e.class}: #{e.message}"
    end

    def expect_eq(actual, expected)
      raise "expected #{expected.inspect}, got #{actual.inspect}" unless actual == expected
    end

    def with_puma(dir)
      port = IodineSpec.free_port
      log = File.join(dir, "puma.log")
      pid = Process.spawn("puma", "-b", "tcp://127.0.0.1:#{port}", "-t", "4:4", "config.ru",
                          chdir: dir, in: File::NULL, out: log, err: log)
      unless IodineSpec.wait_until(timeout: 15) { IodineSpec.port_open?(port) }
        raise "puma did not start:\n#{File.read(log)}"
      end

      yield port
    ensure
      IodineSpec.terminate(pid, timeout: 5) if pid
    end

    # Checks that need no server: the RFC's byte-exact examples.
    def local_checks
      check("masked frame matches RFC 6455 5.7") do
        frame = WSClient.encode_frame(opcode: :text, payload: "Hello", mask_key: "\x37\xfa\x21\x3d".b)
        expect_eq(frame, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58".b)
      end
      check("unmasked/override lengths encode as 16- and 64-bit") do
        expect_eq(WSClient.encode_frame(opcode: :binary, payload: "", mask: false, length_override: 256),
                  "\x82\x7E\x01\x00".b)
        expect_eq(WSClient.encode_frame(opcode: 3, payload: "", mask: false, fin: false, length_override: 65_536),
                  "\x03\x7F\x00\x00\x00\x00\x00\x01\x00\x00".b)
      end
      check("deflate matches RFC 7692 7.2.3.1, inflate round trips") do
        expect_eq(WSClient.deflate("Hello"), "\xf2\x48\xcd\xc9\xc9\x07\x00".b)
        text = "caf\u00e9 " * 1000
        expect_eq(WSClient.inflate(WSClient.deflate(text)).force_encoding("UTF-8"), text)
      end
    end

    def websocket_checks(port)
      check("handshake, subprotocol, text and binary echo") do
        WSClient.open(port, "/echo", protocols: %w[chat other]) do |ws|
          expect_eq([ws.response_status, ws.response_headers["upgrade"].downcase, ws.protocol],
                    [101, "websocket", "chat"])
          ws.send_text("h\u00e9llo")
          msg = ws.read_message
          expect_eq([msg, msg[1].encoding], [[:text, "h\u00e9llo"], Encoding::UTF_8])
          ws.send_binary("\x00\xff".b)
          msg = ws.read_message
          expect_eq([msg, msg[1].encoding], [[:binary, "\x00\xff".b], Encoding::BINARY])
        end
      end
      check("large (64-bit length) and fragmented messages") do
        WSClient.open(port, "/echo") do |ws|
          big = SecureRandom.random_bytes(300_000)
          ws.send_binary(big)
          ws.send_fragmented("fragmented hello", 3)
          ws.send_fragmented("", 2, opcode: :binary)
          expect_eq(ws.read_messages(3), [[:binary, big], [:text, "fragmented hello"], [:binary, "".b]])
        end
      end
      check("ping -> pong, server ping answered") do
        WSClient.open(port, "/echo") do |ws|
          ws.ping("p1")
          expect_eq(ws.read_message, [:pong, "p1".b])
          ws.send_text("ping-me")
          expect_eq(ws.read_message, [:text, "got pong"])
        end
      end
      check("close code round trip and EOF") do
        WSClient.open(port, "/echo") do |ws|
          ws.close(4001, "bye")
          expect_eq(ws.read_message, [:close, 4001, "bye"])
          expect_eq([ws.close_code, ws.close_reason, ws.wait_closed(timeout: 3), ws.closed?],
                    [4001, "bye", true, true])
          begin
            ws.read_frame(timeout: 1)
            raise "read after EOF did not raise"
          rescue WSClient::Closed
            nil
          end
        end
      end
      check("unmasked client frame: server close frame read raw") do
        WSClient.open(port, "/echo") do |ws|
          ws.send_frame(opcode: :text, payload: "unmasked", mask: false)
          frame = ws.read_frame
          # websocket-driver answers an unmasked frame with 1003, not 1002.
          expect_eq([frame.opcode, frame.fin, frame.masked, ws.close_code], [:close, true, false, 1003])
          expect_eq(ws.wait_closed(timeout: 3), true)
        end
      end
      [["reserved opcode", { opcode: 3, payload: "x" }],
       ["fragmented ping", { opcode: :ping, payload: "x", fin: false }],
       ["RSV1 without extension", { opcode: :text, payload: "x", rsv1: true }]].each do |name, frame|
        check("invalid frame (#{name}) gets 1002") do
          WSClient.open(port, "/echo") do |ws|
            ws.send_frame(**frame)
            expect_eq(ws.read_message(reply: false)[0, 2], [:close, 1002])
          end
        end
      end
      check("read timeout raises WSClient::Timeout") do
        WSClient.open(port, "/echo") do |ws|
          started = IodineSpec.now
          begin
            ws.read_message(timeout: 0.3)
            raise "no timeout"
          rescue WSClient::Timeout
            raise "timeout took too long" if IodineSpec.now - started > 1
          end
        end
      end
      check("refusals: HandshakeError and handshake_response") do
        begin
          WSClient.open(port, "/plain")
          raise "no HandshakeError"
        rescue WSClient::HandshakeError => e
          raise "message lacks status line: #{e.message}" unless e.message.include?("HTTP/1.1 200")

          expect_eq(e.response.body, "plain page")
        end
        response = WSClient.handshake_response(port, "/echo", headers: { "Upgrade" => nil, "Connection" => nil })
        expect_eq([response.status, response.body], [400, "not a WebSocket request"])
      end
      check("RFC 6455 5.7 frames: fragments, ping in between, 16/64-bit lengths") do
        WSClient.open(port, "/rfc6455") do |ws|
          expect_eq(ws.read_message, [:text, "Hello"])
          expect_eq(ws.read_message, [:text, "Hello"]) # the ping inside it got a pong
          expect_eq(ws.read_message, [:binary, "a" * 256])
          expect_eq(ws.read_message, [:binary, "b" * 65_536])
          expect_eq(ws.read_message, [:text, "pong: ok"])
          expect_eq(ws.read_message, [:close, 1000, ""])
          expect_eq(ws.wait_closed(timeout: 3), true)
        end
      end
      check("RFC 7692 7.2.3 compressed frames inflate (with context takeover)") do
        WSClient.open(port, "/rfc7692", extensions: "permessage-deflate") do |ws|
          expect_eq(ws.deflate?, true)
          expect_eq(ws.read_messages(2), [[:text, "Hello"], [:text, "Hello"]])
        end
      end
    end

    def sse_checks(port)
      check("SSE over Faye::EventSource (unframed stream)") do
        SSEClient.open(port, "/events", last_event_id: "41") do |sse|
          headers = sse.response_headers
          expect_eq([sse.response_status, headers["content-type"], headers["transfer-encoding"]],
                    [200, "text/event-stream", nil])
          expect_eq(sse.read_event.to_h.slice(:id, :data, :retry), { id: nil, data: nil, retry: 2000 })
          expect_eq(sse.read_event.to_h, { id: "1", event: nil, data: "one", retry: nil, raw: "id: 1\ndata: one" })
          multi = sse.read_event
          expect_eq([multi.id, multi.event, multi.data], ["2", "multi", "line 1\nline 2"])
          expect_eq(sse.read_comment, "")
          expect_eq([sse.read_event.data, sse.last_event_id], %w[41 2])
          expect_eq(sse.closed?, false)
        end
      end
      check("SSE over a chunked Rack body: comments, retry, CRLF/CR lines, end") do
        SSEClient.open(port, "/stream") do |sse|
          expect_eq(sse.response_headers["transfer-encoding"], "chunked")
          events = sse.read_events(5)
          expect_eq(events.map { |e| [e.id, e.event, e.data, e.retry] },
                    [["7", "tick", "a\nb", nil], [nil, nil, nil, 1500], [nil, nil, "crlf", nil],
                     [nil, nil, "cr", nil], [nil, nil, "no-space", nil]])
          expect_eq([sse.comments, sse.wait_closed(timeout: 3)], [["hello"], true])
          begin
            sse.read_event(timeout: 1)
            raise "read after end did not raise"
          rescue SSEClient::Closed
            nil
          end
        end
      end
      check("SSE client on a plain page: status and body") do
        SSEClient.open(port, "/plain") do |sse|
          expect_eq([sse.response_status, sse.read_body], [200, "plain page"])
        end
      end
    end

    # An independent client: websocket-driver in client mode over a TCP socket.
    # The driver wants an object with #url and #write; bytes read are fed to #parse.
    def driver_echo(port, path, text, timeout: 5)
      tcp = Socket.tcp("127.0.0.1", port, connect_timeout: timeout)
      io = Struct.new(:url, :tcp) { def write(data) = tcp.write(data) }.new("ws://127.0.0.1:#{port}#{path}", tcp)
      driver = WebSocket::Driver.client(io)
      reply = nil
      driver.on(:open) { driver.text(text) }
      driver.on(:message) { |event| reply = event.data }
      driver.start
      deadline = IodineSpec.now + timeout
      while reply.nil? && (left = deadline - IodineSpec.now).positive?
        driver.parse(tcp.readpartial(65_536)) if IO.select([tcp], nil, nil, left)
      end
      reply
    ensure
      tcp&.close
    end

    # permessage-deflate against Python's websockets server (Debian's
    # python3-websockets), which negotiates it and compresses its replies.
    def deflate_interop(dir)
      python = "/usr/bin/python3"
      unless system(python, "-c", "import websockets", err: File::NULL)
        puts "skip  permessage-deflate interop (no python3-websockets for #{python})"
        return
      end

      script = File.join(dir, "echo.py")
      File.write(script, PYTHON_ECHO)
      reader, writer = IO.pipe
      pid = Process.spawn(python, script, out: writer, err: File.join(dir, "python.log"), in: File::NULL)
      writer.close
      unless IO.select([reader], nil, nil, 10)
        raise "python server gave no port:\n#{File.read(File.join(dir, "python.log"))}"
      end

      port = Integer(reader.gets)
      check("permessage-deflate interop with python websockets") do
        WSClient.open(port, "/", extensions: "permessage-deflate; client_max_window_bits") do |ws|
          raise "not negotiated: #{ws.response_headers["sec-websocket-extensions"].inspect}" unless ws.deflate?

          texts = ["compress me " * 50, "compress me " * 50, "\u00e9t\u00e9 " * 20]
          texts.each { |t| ws.send_text(t, compress: true) }
          ws.send_fragmented("fragmented " * 30, 3, compress: true)
          ws.send_text("plain", compress: false)
          expect_eq(ws.read_messages(5).map(&:last), texts + ["fragmented " * 30, "plain"])
          ws.send_text("x" * 500, compress: true)
          frame = ws.read_frame # the server's reply, compressed
          expect_eq([frame.rsv1, frame.payload.bytesize < 100], [true, true])
        end
      end
    ensure
      IodineSpec.terminate(pid, timeout: 5) if pid
      reader&.close
    end
  end
end

IodineSpec::WSClientCheck.run
