# frozen_string_literal: true

require "spec_helper"

# The seed README's examples, copied verbatim into spec/fixtures/seed_*.ru,
# run as users would run them. (seed_neorack.ru is in neorack_spec.rb.)
RSpec.describe "The seed README's examples" do
  include IodineSpec::BroadcastClients

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
