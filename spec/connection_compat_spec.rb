# frozen_string_literal: true

require "spec_helper"

# Connections and clients as iodine 0.7 and 0.8 users write them: the SSE
# client's message object, pub/sub on a connection without a socket,
# Iodine.connect's settings (one Hash, path:, cookies:, IPv6 and Unix socket
# addresses, raw://), raw TCP handler factories, and relative Unix socket
# urls read the same way by Iodine.listen and the clients.
RSpec.describe "Connection and client compatibility" do
  # Runs spec/fixtures/compat_clients.rb with the named cases; returns
  # { case => its lines } and stderr.
  def run_clients(cases, env: {}, timeout: 20)
    out, err, status = IodineSpec.run_command(
      { "CASES" => cases.join(","), "SOCK_DIR" => @dir }.merge(env),
      IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), IodineSpec.fixture("compat_clients.rb"),
      timeout: timeout
    )
    expect(status&.success?).to be(true), "clients failed (#{status.inspect}):\n#{out}\n#{err}"
    lines = out.force_encoding("UTF-8").lines.map(&:chomp)
    expect(lines.last).to eq("stopped")
    [lines[0...-1].group_by { |l| l.split(" ", 2).first }.transform_values { |ls| ls.map { |l| l.split(" ", 2).last } },
     err]
  end

  # Accepts count connections; each gets greeting and is held until the
  # client closes it.
  def serve(server, greeting, count)
    Thread.new do
      Array.new(count) do
        sock = server.accept
        sock.write(greeting)
        Thread.new(sock) do |s|
          s.read
        rescue SystemCallError, IOError
          nil
        ensure
          s.close
        end
      end.each(&:join)
    end
  end

  around(:each) do |example|
    Dir.mktmpdir("iodine-compat") do |dir|
      @dir = dir
      example.run
    end
  end

  describe "against a NeoRack server" do
    serve_fixture "compat_peer.ru", threads: 2

    it "gives the SSE client's on_eventsource an Iodine::PubSub::Message (id, event/channel, data/message, to_s, published)" do
      result, = run_clients(["sse"], env: { "PEER_PORT" => @port.to_s })
      expect(result["sse"]).to eq(
        ["open sse 127.0.0.1",
         'event Iodine::PubSub::Message "7" "greet" "greet" "hello" "hello" "hello" Time',
         'event Iodine::PubSub::Message "7" "" "" "last" "last" "last" Time',
         "close"]
      )
    end

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
