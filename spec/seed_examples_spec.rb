# frozen_string_literal: true

require "spec_helper"

# The seed README's examples, copied verbatim into spec/fixtures/seed_*.ru,
# run as users would run them. (seed_neorack.ru is in neorack_spec.rb.)
RSpec.describe "The seed README's examples" do
  after(:each) do
    @clients&.each { |c| c.respond_to?(:disconnect) ? c.disconnect : c.close }
    @clients = nil
  end

  def ws(path = "/")
    (@clients ||= []) << IodineSpec::WSClient.open(@port, path, timeout: 5)
    @clients.last
  end

  def sse(path = "/")
    (@clients ||= []) << IodineSpec::SSEClient.open(@port, path, timeout: 5)
    @clients.last
  end

  # The next message's text (WebSocket) or data (SSE); nil on timeout.
  def next_text(client, timeout: 5)
    client.is_a?(IodineSpec::SSEClient) ? client.read_event(timeout: timeout).data : client.read_message(timeout: timeout).last
  rescue IodineSpec::SSEClient::Timeout, IodineSpec::WSClient::Timeout
    nil
  end

  # on_open subscribes after the handshake, so a message published at once
  # could come first: publish "sync-N" until every client got one.
  def await_subscribed(publisher, clients, timeout: 5)
    waiting = clients.dup
    wait_until(timeout: timeout, interval: 0) do
      publisher.send_text("sync-#{SecureRandom.hex(3)}")
      waiting.reject! { |c| next_text(c, timeout: 0.3)&.start_with?("sync-") }
      waiting.empty?
    end
  end

  # Texts up to the marker, stray sync-N messages left out.
  def texts_until(client, marker)
    got = []
    while (text = next_text(client)) != marker
      raise "no #{marker.inspect} within 5 s (got #{got.inspect})" if text.nil?

      got << text unless text.start_with?("sync-")
    end
    got
  end

  describe "\"Using Rack for WebSocket/SSE\" (the broadcast App)" do
    serve_fixture "seed_broadcast.ru", threads: 2

    it "broadcasts a message from one WebSocket client to 3 WebSocket clients and an SSE client, once each" do
      clients = [ws("/one"), ws("/two"), ws("/three"), sse("/events")]
      sender = clients[1]
      expect(clients.last.response_status).to eq(200)
      expect(await_subscribed(sender, clients)).to be(true), "a broadcast never reached every client"
      sender.send_text("Hello, everyone ✓")
      sender.send_text("bye")
      clients.each { |c| expect(texts_until(c, "bye")).to eq(["Hello, everyone ✓"]) }
    end

    it "keeps broadcasting after a client leaves" do
      clients = [ws, ws, sse]
      expect(await_subscribed(clients[0], clients)).to be(true)
      clients.shift.disconnect
      clients[0].send_text("still here")
      clients.each { |c| expect(texts_until(c, "still here")).to eq([]) }
    end

    it "lists the Rack env for a plain GET" do
      lines = get(@port, "/env?x=1").body.split("\r\n")
      expect(lines).to include("REQUEST_METHOD: GET", "PATH_INFO: /env", "QUERY_STRING: x=1")
    end
  end
end
