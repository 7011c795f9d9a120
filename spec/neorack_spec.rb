# frozen_string_literal: true

require "spec_helper"

# NeoRack apps (on_http(e) ... e.finish) and their upgrade callbacks
# (on_authenticate*, on_open, on_message, on_eventsource_reconnect), served
# by the real server.
RSpec.describe "NeoRack" do
  include IodineSpec::BroadcastClients

  # One raw request with exactly these headers; returns the RawResponse.
  def raw_request(method, path, headers: {}, body: nil, port: @port)
    raw_client(port) do |c|
      c.request(method, path, headers: { "Host" => "127.0.0.1:#{port}" }.merge(headers), body: body)
      c.read_response
    end
  end

  # =====================================================================
  describe "the seed README's MyNeoRackApp (verbatim)" do
    serve_fixture "seed_neorack.ru", threads: 2

    it "echoes path, query, method, version, peer and request headers for a GET" do
      res = raw_request("GET", "/some/path?a=1&b=2", headers: { "X-Foo" => "bar" })
      expect(res.status).to eq(200)
      expect(res.body).to start_with("path:    /some/path\r\nquery:   a=1&b=2\r\nmethod:  GET\r\n" \
                                     "version: HTTP/1.1\r\nfrom:    127.0.0.1 (127.0.0.1)\r\n")
      lines = res.body.split("\r\n")
      expect(lines).to include("x-foo: bar", "host: 127.0.0.1:#{@port}")
    end

    it "appends a POST body read with e.gets" do
      body = "line1\nline2\nlast"
      res = raw_request("POST", "/up", headers: { "Content-Type" => "text/plain" }, body: body)
      expect(res.status).to eq(200)
      expect(res.body).to start_with("path:    /up\r\nquery:   \r\nmethod:  POST\r\n")
      expect(res.body).to include("content-type: text/plain\r\n", "content-length: #{body.bytesize}\r\n")
      expect(res.body).to end_with("\r\n#{body}")
    end

    it "broadcasts a WebSocket message to WebSocket and SSE clients once (on_open subscribe, on_message publish)" do
      a = ws("/a")
      b = ws("/b")
      events = sse("/events")
      expect(events.response_status).to eq(200)
      expect(await_subscribed(a, [a, b, events])).to be(true), "a broadcast never reached every client"
      b.send_text("hello all")
      b.send_text("bye")
      [a, b, events].each { |c| expect(texts_until(c, "bye")).to eq(["hello all"]) }
    end
  end

  # on_eventsource_reconnect puts to $stdout, which is a file here (block
  # buffered): read it once the server stopped.
  it "calls on_eventsource_reconnect with the Last-Event-ID of an SSE request (seed example)" do
    with_server("seed_neorack.ru") do |server|
      client = IodineSpec::SSEClient.open(server.port, "/events", last_event_id: "42")
      expect(client.response_status).to eq(200)
      expect(client.response_headers["content-type"]).to start_with("text/event-stream")
      plain = IodineSpec::SSEClient.open(server.port, "/plain") # no Last-Event-ID: no call
      sleep 0.3
      client.close
      plain.close
      server.stop
      expect(server.stdout.scan(/Reconnecting SSE client \d+, should send everything after message ID (.*)$/))
        .to eq([["42"]])
    end
  end

  # =====================================================================
  describe "the HTTP event" do
    serve_fixture "neorack_app.ru", threads: 2

    it "sends status=, write_header, several writes and finish as one response" do
      res = get(@port, "/parts")
      expect(res.code).to eq("201")
      expect(res["x-a"]).to eq("1")
      expect(res.body).to eq("part1part2")
    end

    it "appends finish(body) to what was written, and finishes a response the app left open" do
      expect(get(@port, "/finish_body").body).to eq("ab")
      res = get(@port, "/unfinished")
      expect([res.code, res.body]).to eq(%w[200 w])
    end

    it "sends a header written twice as two header lines" do
      expect(get(@port, "/multi").get_fields("x-m")).to eq(%w[1 2])
    end

    it "answers method, path and query" do
      expect(http(@port, :delete, "/thing?x=1&y=2").body).to eq("http:DELETE:/thing?x=1&y=2")
    end

    it "looks up request headers with e[name] (lower case) and e.headers" do
      res = post(@port, "/headers", "z", headers: { "Content-Type" => "application/x-foo", "X-Custom" => "cv" })
      expect(res.body).to eq("ctype=application/x-foo|custom=cv|missing=nil|hash=application/x-foo")
    end

    it "lists only the headers the client sent in e.headers" do
      res = raw_request("GET", "/header_names", headers: { "X-One" => "1", "Accept" => "*/*" })
      expect(res.body.split(",")).to eq(%w[accept host x-one])
    end

    it "reads the body with e.read, e.read(n) and e.gets" do
      body = SecureRandom.random_bytes(200_000)
      expect(post(@port, "/read", body).body).to eq("read:200000:#{Digest::SHA256.hexdigest(body)}")
      expect(post(@port, "/read_parts", "0123456789").body).to eq("01234|56789")
      expect(post(@port, "/gets", "a\nb\nc").body).to eq(%W[a\n b\n c].inspect)
    end

    describe "on_authenticate_websocket / on_authenticate_sse before on_authenticate" do
      def ws_handshake(path)
        IodineSpec::WSClient.handshake_response(@port, path)
      end

      it "upgrades when the specific callback allows it, even where on_authenticate would refuse" do
        client = ws("/deny-all")
        expect(client.read_message).to eq([:text, "open:/deny-all"])
        client.send_text("hi")
        expect(client.read_message).to eq([:text, "echo:hi"])
        events = sse("/deny-all")
        expect(events.response_status).to eq(200)
        expect(events.read_event.data).to eq("open:/deny-all")
        expect(@server.stdout).not_to include("auth:any:")
      end

      it "refuses a WebSocket with on_authenticate_websocket, answering on_http's response" do
        res = ws_handshake("/deny-ws")
        expect(res.status).to eq(200)
        expect(res.body).to eq("http:GET:/deny-ws?")
        # the SSE side of the same path is allowed
        expect(sse("/deny-ws").read_event.data).to eq("open:/deny-ws")
      end

      it "refuses SSE with on_authenticate_sse, answering on_http's response" do
        events = sse("/deny-sse")
        expect(events.response_status).to eq(200)
        expect(events.response_headers["content-type"].to_s).not_to include("text/event-stream")
        expect(events.read_body).to eq("http:GET:/deny-sse?")
        expect(ws_handshake("/deny-sse").status).to eq(101)
        expect(@server.stdout).to include("auth:websocket:/deny-ws", "auth:sse:/deny-sse")
      end
    end
  end

  # =====================================================================
  describe "on_finish" do
    serve_fixture "neorack_finish.ru", threads: 1

    it "runs after each HTTP response was sent, and after on_close for a WebSocket" do
      expect(get(@port, "/one").body).to eq("hi /one")
      expect(get(@port, "/two").body).to eq("hi /two")
      client = ws("/chat")
      client.send_text("echo")
      expect(client.read_message).to eq([:text, "echo"])
      client.close
      client.wait_closed
      log = wait_until { (l = get(@port, "/log").body).include?("finish:ws") && l }
      expect(log).to eq("finish:/one,finish:/two,close,finish:ws")
    end
  end

  describe "on_authenticate alone" do
    serve_fixture "neorack_auth.ru", threads: 2

    it "refuses WebSocket and SSE upgrades when it returns false (on_http answers instead of 101)" do
      res = IodineSpec::WSClient.handshake_response(@port, "/deny")
      expect(res.status).to eq(200)
      expect(res.body).to eq("http:/deny")
      events = sse("/deny")
      expect(events.response_headers["content-type"].to_s).not_to include("text/event-stream")
      expect(events.read_body).to eq("http:/deny")
    end

    it "upgrades when it returns true" do
      expect(ws("/ok").read_message).to eq([:text, "open"])
      expect(sse("/ok").read_event.data).to eq("open")
      expect(get(@port, "/ok").body).to eq("http:/ok")
    end
  end

  # =====================================================================
  it "serves a Rack app and a NeoRack app on two Iodine.listen listeners of one process" do
    rack_port = free_port
    neo_port = free_port
    cmd = [IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), fixture("neorack_two_listeners.rb"),
           rack_port.to_s, neo_port.to_s]
    server = IodineSpec::Server.new(cmd, port: neo_port)
    server.start
    expect(wait_until(timeout: 5) { IodineSpec.port_open?(rack_port) }).to be(true)
    expect(get(rack_port, "/a").body).to eq("rack:/a")
    expect(post(neo_port, "/b", "x").body).to eq("neo:POST:/b")
    client = ws("/c", port: neo_port)
    client.send_text("hey")
    expect(client.read_message).to eq([:text, "neo-echo:hey"])
    expect(server.stop&.exitstatus).to eq(0)
    expect(server.stdout).to include("STOPPED")
  rescue RSpec::Expectations::ExpectationNotMetError
    warn server&.output
    raise
  ensure
    server&.cleanup
  end
end
