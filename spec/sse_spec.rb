# frozen_string_literal: true

require_relative "spec_helper"

# Server-Sent Events end to end: the real server (exe/iodine -w 0) serving
# spec/fixtures/sse_app.ru (on_open sends "open <id>" and then whatever the
# query asks for; GET /stats/<id> tells which callbacks ran), read by the
# raw client in spec/support/sse_client.rb. Every wait is bounded.
RSpec.describe "Server-Sent Events" do
  def sse_open(path = "/", port: @port, **opts, &block)
    IodineSpec::SSEClient.open(port, path, timeout: 5, **opts, &block)
  end

  # Opens a stream, checks the fixture's "open <id>" event and yields the
  # client and the connection's id.
  def sse_session(path = "/", port: @port, **opts)
    sse_open(path, port: port, **opts) do |sse|
      expect(sse.response_status).to eq(200)
      event = sse.read_event(timeout: 3)
      expect(event.data).to match(/\Aopen \d+\z/)
      yield sse, Integer(event.data.split.last)
    end
  end

  def stats(id, port: @port)
    JSON.parse(get(port, "/stats/#{id}", timeout: 5).body)
  end

  # Waits (bounded) until on_close ran for the connection; returns its log.
  def log_after_close(id, port: @port, timeout: 5)
    wait_until(timeout: timeout) do
      log = stats(id, port: port)
      log if log.include?("close")
    end || stats(id, port: port)
  end

  describe "with -t 2 -ping 1" do
    serve_fixture "sse_app.ru", threads: 2, flags: ["-ping", "1"]

    describe "the upgrade" do
      it "answers 200 text/event-stream with the app's own headers" do
        sse_session do |sse, _id|
          expect(sse.response_headers["content-type"]).to eq("text/event-stream")
          expect(sse.response_headers["x-sse-app"]).to eq("yes")
          expect(sse.response_head).to include("\r\nx-sse-app: yes\r\n") # the app's own case
          expect(sse.response_headers).not_to have_key("content-length")
        end
      end

      it "sets rack.upgrade? to :sse for Accept: text/event-stream and nil otherwise" do
        expect(get(@port, "/probe", headers: { "Accept" => "text/event-stream" }).body).to eq("upgrade?=:sse")
        expect(get(@port, "/probe", headers: { "Accept" => "text/html, text/event-stream;q=0.9" }).body)
          .to eq("upgrade?=:sse")
        expect(get(@port, "/probe", headers: { "Accept" => "text/html" }).body).to eq("upgrade?=nil")
        expect(get(@port, "/probe").body).to eq("upgrade?=nil")
      end

      it "still answers plain HTTP on the same app" do
        res = get(@port, "/")
        expect(res.code).to eq("200")
        expect(res.body).to eq("plain http")
      end

      it "does not start a stream when the app answers with a status of 300 or more" do
        sse_open("/refuse") do |sse|
          expect(sse.response_status).to eq(401)
          expect(sse.read_body(timeout: 3)).to eq("refused")
        end
      end

      it "starts a stream when the app answers [0, {}, []] as iodine 0.7's README does" do
        sse_session("/zero") do |sse, _id|
          expect(sse.response_headers["content-type"]).to eq("text/event-stream")
        end
      end

      it "gives the handler an SSE connection" do
        sse_session("/info?info") do |sse, _id|
          info = JSON.parse(sse.read_event(timeout: 3).data)
          expect(info).to eq("protocol" => "sse", "websocket" => false, "sse" => true, "path" => "/info",
                             "open" => true)
        end
      end
    end

    describe "events" do
      it "sends conn.write(\"a\\nb\") as one event whose data is \"a\\nb\"" do
        sse_session("/?multiline") do |sse, _id|
          event = sse.read_event(timeout: 3)
          expect(event.data).to eq("a\nb")
          expect(event.raw).to eq("data: a\ndata: b")
          expect([event.id, event.event]).to eq([nil, nil])
        end
      end

      it "treats CRLF in the data as one line break" do
        sse_session("/?crlf") do |sse, _id|
          expect(sse.read_event(timeout: 3).data).to eq("a\nb")
        end
      end

      it "treats a lone CR in the data as a line break, so the data cannot inject an id field" do
        sse_session("/?cr") do |sse, _id|
          event = sse.read_event(timeout: 3)
          expect(event.id).to be_nil, "data \"a\\rid: 666\" set the event id to #{event.id.inspect} " \
                                      "(raw block #{event.raw.inspect})"
          expect(event.data).to eq("a\nid: 666")
        end
      end

      it "sends write_sse(id, event, data) and its hash form with id and event fields" do
        sse_session("/?fields") do |sse, _id|
          first, second = sse.read_events(2, timeout: 3)
          expect(first.to_h.slice(:id, :event, :data)).to eq(id: "7", event: "tick", data: "x\ny")
          expect(second.to_h.slice(:id, :event, :data)).to eq(id: "8", event: "tock", data: "z")
          expect(sse.last_event_id).to eq("8")
        end
      end
    end

    describe "lifecycle" do
      it "runs on_open, then on_close when the client disconnects" do
        id = nil
        sse_session { |_sse, conn_id| id = conn_id } # closes the socket
        expect(log_after_close(id)).to eq(%w[open close])
      end

      it "ends the stream on conn.close (the client sees EOF) and runs on_close" do
        sse_session("/?close") do |sse, id|
          expect(sse.read_event(timeout: 3).data).to eq("closing")
          expect(sse.wait_closed(timeout: 3)).to be(true)
          sse.close
          expect(log_after_close(id)).to eq(%w[open close])
        end
      end

      it "calls on_eventsource_reconnect with the Last-Event-ID header, after on_open" do
        sse_session(last_event_id: "42") do |sse, id|
          expect(sse.read_event(timeout: 3).data).to eq("reconnect:42")
          expect(stats(id)).to eq(%w[open reconnect:42])
        end
      end

      it "does not call on_eventsource_reconnect without Last-Event-ID" do
        sse_session do |_sse, id|
          sleep 0.2
          expect(stats(id)).to eq(%w[open])
        end
      end

      it "sends a comment on a stream idle for -ping seconds and keeps it open" do
        sse_session do |sse, _id|
          expect(sse.read_comment(timeout: 3)).to eq("ping")
          expect(sse.closed?).to be(false)
        end
      end
    end
  end

  describe "on SIGTERM" do
    it "runs on_shutdown, sends its event, ends the streams, runs on_close and exits 0" do
      with_server("sse_app.ru", threads: 2) do |server|
        clients = Array.new(2) { sse_open(port: server.port) }
        ids = clients.map { |sse| Integer(sse.read_event(timeout: 3).data.split.last) }
        server.signal("TERM")
        clients.each do |sse|
          expect(sse.read_event(timeout: 5).data).to eq("bye")
          expect(sse.wait_closed(timeout: 5)).to be(true)
          sse.close
        end
        status = server.wait(timeout: 10)
        expect(status&.exitstatus).to eq(0), "exit status #{status.inspect}\n#{server.output}"
        ids.each { |id| expect(server.stderr).to include("sse closed #{id}") }
      ensure
        clients&.each(&:close)
      end
    end
  end
end
