# frozen_string_literal: true

require "spec_helper"

# Connections and clients as iodine 0.7 and 0.8 users write them: the SSE
# client's message object, pub/sub on a connection without a socket,
# Iodine.connect's settings (one Hash, path:, cookies:, IPv6 and Unix socket
# addresses, raw://), raw TCP handler factories, and relative Unix socket
# urls read the same way by Iodine.listen and the clients.
RSpec.describe "Connection and client compatibility" do
  describe "against a NeoRack server" do
    serve_fixture "compat_peer.ru", threads: 2

    it "refuses subscribe/unsubscribe on a NeoRack HTTP event, and the app's own Iodine.subscribe block keeps its deliveries" do
      log = -> { get(@port, "/log").body }
      expect(get(@port, "/pub?one").body).to eq("published")
      expect(wait_until { log.call == "one" }).to be(true), "got #{log.call.inspect}"
      expect(get(@port, "/sub").body).to eq("nil nil false")
      expect(get(@port, "/pub?two").body).to eq("published")
      expect(wait_until { log.call == "one,two" }).to be(true), "the process subscription was touched: #{log.call.inspect}"
    end
  end
end
