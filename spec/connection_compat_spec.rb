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

    it "takes Iodine.connect's settings as one Hash or as keywords, applies path: and cookies:, " \
       "ignores HTTP-only keys with one warning" do
      result, err = run_clients(%w[ws_hash ws_keywords], env: { "PEER_PORT" => @port.to_s })
      expect(result["ws_hash"]).to eq(
        ["open websocket 127.0.0.1", 'message "path=/chat query=room=1 cookie=session=abc; theme=dark token=t1"', "close"]
      )
      expect(result["ws_keywords"]).to eq(
        ["open websocket 127.0.0.1", 'message "path=/kw query= cookie=b=2; a=1 token="', "close"]
      )
      expect(err.scan(/don't apply to WebSocket, SSE or raw TCP clients/).size).to eq(1), err
    end
  end

  it "dials raw TCP from address: and port: (IPv6 in brackets, ping: as the timeout), raw:// urls, Unix socket urls and paths" do
    v6 = TCPServer.new("::1", 0)
    v4 = TCPServer.new("127.0.0.1", 0)
    unix = UNIXServer.new(File.join(@dir, "rel.sock"))
    threads = [serve(v6, "hi v6\n", 1), serve(v4, "hi v4\n", 1), serve(unix, "unix hi\n", 2)]
    started = now
    result, = run_clients(%w[raw_v6 raw_scheme unix_url unix_address not_dialed],
                          env: { "V6_PORT" => v6.addr[1].to_s, "V4_PORT" => v4.addr[1].to_s,
                                 "CLOSED_PORT" => free_port.to_s })
    expect(result["raw_v6"]).to eq(["open raw ::1", 'message "hi v6\n"', "timeout", "close"])
    expect(now - started).to be < 10
    expect(result["raw_scheme"]).to eq(["open raw 127.0.0.1", 'message "hi v4\n"', "close"])
    %w[unix_url unix_address].each do |name|
      expect(result[name]).to eq(["open raw ./rel.sock", 'message "unix hi\n"', "close"])
    end
    expect(result["not_dialed"]).to eq(["subscribe nil nil unsubscribe false", "close"])
    threads.each { |t| expect(t.join(5)).to be_truthy }
  ensure
    [v6, v4, unix].each { |s| s&.close }
  end

  it "refuses settings it can't honour at once, with the reason" do
    out, err, status = IodineSpec.run_ruby(
      'require "iodine"
       h = Object.new
       [-> { Iodine.connect(url: "ws://x/", handler: h, hanlder: h) },
        -> { Iodine::Connection.new("ws://x/", handler: h, ping: 0) },
        -> { Iodine.connect(url: "tcp://x:1", handler: h, timeout: -1) },
        -> { Iodine.connect({ url: "ws://x/", handler: h, max_msg: "big" }) },
        -> { Iodine.connect(url: "ws://x/", handler: h, cookies: { "a b" => "1" }) },
        -> { Iodine.connect(url: "unix://./x.sock", service: :ws, handler: h) },
        -> { Iodine.connect(address: "example.com", handler: h) },
        -> { Iodine.connect("ws://x/") }].each do |attempt|
         attempt.call
         puts "accepted"
       rescue ArgumentError => e
         puts e.message
       end'
    )
    expect(status&.success?).to be(true), err
    expect(out.lines.map(&:chomp)).to eq(
      ["unknown keyword: :hanlder",
       "ping must be a positive number, got 0",
       "timeout must be a positive number, got -1",
       'max_msg must be a positive number, got "big"',
       'invalid cookie name "a b"',
       '"unix://./x.sock" is a Unix socket: only a raw client (service: :raw) can use one',
       "tcp://example.com has no port: a raw TCP client needs one",
       'Iodine.connect takes a Hash of settings, got "ws://x/"']
    )
  end

  describe "raw TCP handler factories (iodine 0.7)" do
    before(:context) do
      @sock_dir = Dir.mktmpdir("iodine-compat-raw")
      @ports = Array.new(4) { free_port }
      env = { "SOCK_DIR" => @sock_dir }
      @ports.each_with_index { |p, i| env[i.zero? ? "PORT" : "PORT#{i + 1}"] = p.to_s }
      cmd = [IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), IodineSpec.fixture("compat_raw.rb")]
      # Probing a port would be a connection, and call its factory: wait for
      # the last TCP listener (OldStyle's) and the Unix one, bound after the others.
      @server = IodineSpec::Server.new(cmd, port: @ports.last, env: env)
      @server.start
      expect(wait_until { File.socket?(File.join(@sock_dir, "compat.sock")) }).to be_truthy
    end

    after(:context) do
      @server&.cleanup
      FileUtils.rm_rf(@sock_dir) if @sock_dir
    end

    after(:each) do |example|
      @clients&.each(&:close)
      warn @server.output if example.exception
    end

    def tcp(port)
      IodineSpec::TCPClient.new(port).tap { |c| (@clients ||= []) << c }
    end

    it "calls a block once per connection: each connection has its own handler object" do
      a = tcp(@ports[0])
      b = tcp(@ports[0])
      [a, b].each { |c| expect(c.read_until("\n")).to eq("counter open\n") }
      a.write("x\n")
      expect(a.read_until("\n")).to eq("counter n=1\n")
      a.write("x\n")
      expect(a.read_until("\n")).to eq("counter n=2\n")
      b.write("y\n")
      expect(b.read_until("\n")).to eq("counter n=1\n")
    end

    it "calls a handler: object that only answers #call, once per connection" do
      expect(tcp(@ports[1]).read_until("\n")).to eq("factory call 1 open\n")
      expect(tcp(@ports[1]).read_until("\n")).to eq("factory call 2 open\n")
    end

    it "closes the connection when the factory returns nil or raises (logged), and keeps serving" do
      first = tcp(@ports[2])
      expect(first.closed?).to be(true)
      expect(first.received).to eq("")
      second = tcp(@ports[2])
      expect(second.closed?).to be(true)
      expect(@server.wait_for_log(/factory boom.*raw TCP handler factory/)).to be_truthy
      expect(tcp(@ports[2]).read_until("\n")).to eq("third open\n")
    end

    it "uses a handler that has callbacks as it is, without calling its #call" do
      expect(tcp(@ports[3]).read_until("\n")).to eq("the module is the handler\n")
    end

    it "listens on unix://./relative.sock in the working directory" do
      sock = UNIXSocket.new(File.join(@sock_dir, "compat.sock"))
      read_line = lambda do
        line = +""
        line << sock.readpartial(100) while !line.end_with?("\n") && sock.wait_readable(5)
        line
      end
      expect(read_line.call).to eq("unix open\n")
      sock.write("z\n")
      expect(read_line.call).to eq("unix n=1\n")
    ensure
      sock&.close
    end
  end
end
