# frozen_string_literal: true

require "securerandom"

module IodineSpec
  # For example groups that open WebSocket and SSE clients against a
  # broadcasting app: the clients are closed after each example, and the
  # helpers read texts from either kind alike.
  module BroadcastClients
    def self.included(group)
      group.after(:each) do
        @clients&.each { |c| c.respond_to?(:disconnect) ? c.disconnect : c.close }
        @clients = nil
      end
    end

    def ws(path = "/", port: @port)
      (@clients ||= []) << IodineSpec::WSClient.open(port, path, timeout: 5)
      @clients.last
    end

    def sse(path = "/", port: @port, **opts)
      (@clients ||= []) << IodineSpec::SSEClient.open(port, path, timeout: 5, **opts)
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
  end
end
