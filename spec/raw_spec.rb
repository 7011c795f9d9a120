# frozen_string_literal: true

require "spec_helper"

# Raw TCP services: Iodine.listen(service: :raw) and tcp:// urls, with the
# same connection object and callbacks as WebSockets (on_open, on_message
# with the bytes as they came, on_timeout, on_shutdown, on_close), pub/sub
# straight to the socket, and the seed README's echo and chat servers.
RSpec.describe "Raw TCP services" do
  def tcp(port = @ports[:echo])
    IodineSpec::TCPClient.new(port).tap { |c| (@clients ||= []) << c }
  end

  def start_raw_app(workers: 0, threads: 1)
    @ports = { echo: free_port, silent: free_port, patient: free_port, http: free_port, sink: free_port }
    env = { "PORT" => @ports[:echo].to_s, "PORT2" => @ports[:silent].to_s, "PORT3" => @ports[:patient].to_s,
            "PORT4" => @ports[:http].to_s, "PORT5" => @ports[:sink].to_s,
            "WORKERS" => workers.to_s, "THREADS" => threads.to_s }
    cmd = [IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), IodineSpec.fixture("raw_app.rb")]
    server = IodineSpec::Server.new(cmd, port: @ports[:http], env: env)
    server.start
    expect(wait_until { @ports.values.all? { |p| IodineSpec.port_open?(p) } }).to be(true)
    server
  end

  after(:each) { @clients&.each(&:close) }

  describe "one process with four listeners" do
    before(:context) { @server = start_raw_app }
    after(:context) { @server&.cleanup }
    after(:each) { |example| warn @server.output if example.exception }

    it "opens with on_open (peer address, protocol :raw, the listener's timeout) and echoes bytes as binary" do
      c = tcp
      expect(c.read_until("\n")).to eq("welcome 127.0.0.1 raw 40\n")
      c.write("hello\n")
      expect(c.read_until("hello\n")).to eq("hello\n")
      bytes = "\xff\xfe\x00 not UTF-8\n".b
      c.write(bytes)
      expect(c.read_bytes(bytes.bytesize)).to eq(bytes)
    end

    it "delivers a 300 KB write completely and in order, over several on_message calls" do
      c = tcp
      c.read_until("\n")
      data = Array.new(300 * 1024) { |i| (i % 251).chr }.join.b
      c.write(data)
      expect(c.read_bytes(data.bytesize, timeout: 10)).to eq(data)
    end

    it "closes after the queued data on close, and on_close runs once, with open? false" do
      c = tcp
      c.read_until("\n")
      c.write("close\n")
      expect(c.read_until("closing\n")).to eq("closing\n")
      expect(c.closed?).to be(true)
      expect(@server.wait_for_log(/echo closed false/)).to be_truthy
    end

    it "answers a client that half-closed (sent EOF) before closing: printf | nc -N" do
      c = tcp
      c.read_until("\n")
      c.write("hello\n").close_write
      expect(c.read_until("hello\n")).to eq("hello\n")
      expect(c.closed?).to be(true)
      expect(@server.wait_for_log(/echo closed false/)).to be_truthy
    end

    # Bytes the app has not taken yet stay in the socket: a client that
    # sends faster than the app reads is slowed down by TCP instead of
    # growing the server's memory, and nothing it sent is lost.
    it "stops reading a client that is over 1 MB ahead of its handler, and loses nothing" do
      c = tcp(@ports[:sink])
      c.read_until("sink\n")
      chunk = ("x" * 65_536).b
      sent = 0
      deadline = now + 1.5 # the handler sleeps 2 s in its first on_message
      while now < deadline && sent < 64 << 20
        begin
          sent += c.socket.write_nonblock(chunk)
        rescue IO::WaitWritable
          c.socket.wait_writable(0.05)
        end
      end
      expect(sent).to be < 24 << 20, "the server took #{sent >> 20} MB from a client whose handler was asleep"
      expect(c.read_until("total #{sent}\n", timeout: 20)).to end_with("total #{sent}\n")
    end

    it "logs an exception in a callback and keeps serving that connection and others" do
      c = tcp
      c.read_until("\n")
      c.write("boom\n")
      expect(@server.wait_for_log(/raw boom/)).to be_truthy
      c.write("still\n")
      expect(c.read_until("still\n")).to eq("still\n")
      d = tcp
      expect(d.read_until("\n")).to start_with("welcome")
    end

    it "sends pub/sub messages straight to subscribed sockets, once each" do
      subs = [tcp, tcp]
      subs.each do |s|
        s.read_until("\n")
        s.write("sub\n")
        s.read_until("subscribed\n")
      end
      publisher = tcp
      publisher.read_until("\n")
      3.times { |i| publisher.write("pub #{i}\n") && sleep(0.05) }
      subs.each { |s| expect(s.read_until("news: 2\n")).to eq("news: 0\nnews: 1\nnews: 2\n") }
      expect(publisher.drain(0.2)).to eq("")
    end

    it "closes an idle connection after its timeout when the handler has no on_timeout" do
      c = tcp(@ports[:silent])
      expect(c.read_until("hi\n")).to eq("hi\n")
      t0 = now
      expect(c.closed?(timeout: 5)).to be(true)
      expect(now - t0).to be_between(0.5, 4)
      expect(@server.wait_for_log(/silent closed/)).to be_truthy
    end

    it "keeps talking connections open past the timeout" do
      c = tcp(@ports[:silent])
      c.read_until("hi\n")
      6.times do
        sleep 0.4
        c.write("x")
      end
      expect(c.closed?(timeout: 0.1)).to be(false)
    end

    it "calls on_timeout once per idle timeout and leaves the connection open" do
      c = tcp(@ports[:patient])
      expect(c.read_until("timeout 2\n", timeout: 6)).to eq("timeout 1\ntimeout 2\n")
      expect(c.closed?(timeout: 0.1)).to be(false)
    end

    it "serves a Rack app on another listener of the same process" do
      expect(get(@ports[:http], "/").body).to eq("http ok")
    end
  end

  it "runs on_shutdown, sends what it wrote, then closes, when the server stops" do
    server = start_raw_app
    c = tcp
    c.read_until("\n")
    server.stop(signal: "TERM")
    expect(c.read_until("server going down\n")).to eq("server going down\n")
    expect(c.closed?).to be(true)
    expect(server.status&.success?).to be(true), server.output
  ensure
    server&.cleanup
  end

  it "serves from a -w 2 cluster, with pub/sub reaching subscribers on both workers" do
    server = start_raw_app(workers: 2)
    # Connections until both workers hold some (a worker may still be booting).
    clients = {}
    deadline = now + 15
    until (clients.size >= 8 && clients.values.uniq.size >= 2) || now > deadline
      c = tcp
      expect(c.read_until("\n")).to eq("welcome 127.0.0.1 raw 40\n")
      c.write("pid\n")
      clients[c] = c.read_until("\n")
      sleep 0.05 if clients.size >= 8
    end
    expect(clients.values.uniq.size).to eq(2), "#{clients.size} connections all reached #{clients.values.uniq.inspect}"
    clients = clients.keys
    clients.each { |c| c.write("sub\n") && c.read_until("subscribed\n") }
    publisher = tcp
    publisher.read_until("\n")
    publisher.write("pub all\n")
    clients.each { |c| expect(c.read_until("news: all\n")).to eq("news: all\n") }
  ensure
    warn server.output if server && RSpec.current_example.exception
    server&.cleanup
  end

  describe "the seed README's examples" do
    it "runs the echo server (service: :raw, -w 1) unchanged: echo, the timer's log line, bye" do
      port = free_port
      cmd = [IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), IodineSpec.fixture("seed_echo.rb")]
      server = IodineSpec::Server.new(cmd, port: port, env: { "PORT" => port.to_s, "ADDRESS" => "127.0.0.1" })
      server.start
      c = tcp(port)
      c.write("hello there\n")
      expect(c.read_until("\n")).to eq("hello there\n")
      c.write("bye\n")
      expect(c.read_until("bye\n")).to eq("bye\n")
      expect(c.closed?).to be(true)
      sleep 1.2 # the example's run_after(1000)
      server.stop(signal: "INT")
      expect(server.status&.success?).to be(true)
      # The worker's stdout is a file here: puts shows once it exits.
      expect(server.stdout).to include("Echoed data: hello there\n", "Echoed data: bye\n")
    ensure
      warn server.output if server && RSpec.current_example.exception
      server&.cleanup
    end

    # The example listens on tcp://0.0.0.0:3000; the copy run here differs
    # only in that url (tests listen on the loopback, on a free port).
    it "runs the chat room: login, join and leave notices, chat lines, shutdown notice" do
      port = free_port
      script = File.read(IodineSpec.fixture("seed_chat.rb"))
      expect(script).to include("tcp://0.0.0.0:3000")
      path = File.join(Dir.mktmpdir("iodine-chat"), "chat.rb")
      File.write(path, script.sub("tcp://0.0.0.0:3000", "tcp://127.0.0.1:#{port}"))
      server = IodineSpec::Server.new([IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), path], port: port)
      server.start
      alice = tcp(port)
      expect(alice.read_until("\n")).to eq("Enter nickname to log in to chat room:\n")
      alice.write("\n")
      expect(alice.read_until("try again.\n")).to eq("Nickname error, try again.\n")
      alice.read_until("Enter nickname to log in to chat room:\n")
      alice.write("alice\n")
      expect(alice.read_until("alice joined chat.\n")).to eq("alice joined chat.\n")
      bob = tcp(port)
      bob.read_until("\n")
      bob.write("bob\n") # the example keeps a "\r" in the name (it compares with '\n')
      [alice, bob].each { |c| expect(c.read_until("bob joined chat.\n")).to eq("bob joined chat.\n") }
      alice.write("hello bob\n")
      [alice, bob].each { |c| expect(c.read_until("\n")).to eq("alice: hello bob\n") }
      bob.write("bye\n")
      expect(bob.read_until("bob: bye\n")).to eq("bob: bye\n")
      expect(bob.closed?).to be(true)
      expect(alice.read_until("bob left chat.\n")).to eq("bob: bye\nbob left chat.\n")
      server.stop(signal: "INT")
      expect(alice.read_until("\n")).to eq("Server is shutting down... try reconnecting later.\n")
      expect(alice.closed?).to be(true)
      expect(server.stdout).to include("Connecting alice to Chat", "Disconnecting bob.", "Disconnecting alice.")
    ensure
      warn server.output if server && RSpec.current_example.exception
      server&.cleanup
    end
  end
end
