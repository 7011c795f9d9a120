# frozen_string_literal: true

require "spec_helper"
require "time"

# Issue 4, point 3: the request log (-v, Iodine.listen(log: true)), written
# by Go to stderr in batches: one common-log line per request,
#   127.0.0.1 - - [25/Nov/2026:03:50:00 +0000] "GET /path?q=1 HTTP/1.1" 200 16 0.123ms
RSpec.describe "Request log" do
  # A complete access line; the request is "-" when the server could not
  # parse the request line.
  LOG_LINE = %r{\A(?<client>\S+)\ -\ -\ \[(?<date>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\ [+-]\d{4})\]
                \ "(?<request>(?:[^"\\]|\\.)*)"\ (?<status>\d{3})\ (?<bytes>\d+|-)\ (?<ms>\d+\.\d{3})ms\z}x
  # Anything that starts like an access line (to catch malformed or merged ones).
  LOG_START = %r{ - - \[\d\d/}

  def access_lines(server)
    server.stderr.lines.map(&:chomp).select { |l| l.match?(LOG_START) }
  end

  def parsed_lines(server)
    access_lines(server).filter_map { |l| l.match(LOG_LINE) }
  end

  # Waits (bounded) until `count` lines match the block, then a little
  # longer (a few flush periods) so that a duplicate would show too.
  def wait_for_lines(server, count = 1, timeout: 5, &block)
    wait_until(timeout: timeout) { parsed_lines(server).count(&block) >= count }
    sleep 0.25
    parsed_lines(server).select(&block)
  end

  def request_lines(server, request, count = 1)
    wait_for_lines(server, count) { |m| m[:request] == request }
  end

  def expect_one_line(server, request, status:, bytes:)
    lines = request_lines(server, request)
    expect(lines.size).to eq(1), "want one line for #{request.inspect}, got #{lines.map(&:to_s).inspect}\n" \
                                 "#{server.stderr}"
    line = lines.first
    expect(line[:client]).to eq("127.0.0.1")
    expect(line[:status]).to eq(status.to_s)
    expect(line[:bytes]).to eq(bytes.to_s)
    when_logged = Time.strptime(line[:date], "%d/%b/%Y:%H:%M:%S %z")
    expect(when_logged).to be_within(10).of(Time.now)
    expect(Float(line[:ms])).to be >= 0
    line
  end

  def uid
    SecureRandom.hex(4)
  end

  describe "with -v" do
    # -maxhd 4 KB: a request with bigger headers is refused by the parser (431).
    serve_fixture "app.ru", threads: 2, flags: ["-v", "-maxhd", "4"]

    it "logs a GET with its path and query" do
      path = "/n?q=1&id=#{uid}"
      res = get(@port, path)
      expect(res.code).to eq("200")
      expect_one_line(@server, "GET #{path} HTTP/1.1", status: 200, bytes: res.body.bytesize)
    end

    it "logs a POST with the bytes of its response body" do
      path = "/echo?id=#{uid}"
      res = post(@port, path, "p" * 1234)
      expect(res.body.bytesize).to eq(1234)
      expect_one_line(@server, "POST #{path} HTTP/1.1", status: 200, bytes: 1234)
    end

    it "logs a 404" do
      path = "/missing/#{uid}"
      res = get(@port, path)
      expect(res.code).to eq("404")
      expect_one_line(@server, "GET #{path} HTTP/1.1", status: 404, bytes: 9)
    end

    it "logs a HEAD with no body bytes" do
      path = "/?head=#{uid}"
      raw_client(@port) do |c|
        c.request("HEAD", path)
        res = c.read_response(head: true)
        expect(res.status).to eq(200)
        expect(res["Content-Length"]).to eq("16")
      end
      expect_one_line(@server, "HEAD #{path} HTTP/1.1", status: 200, bytes: 0)
    end

    it "logs a request the parser refuses (431, headers over -maxhd)" do
      refused = ->(m) { m[:status] == "431" && m[:request] == "-" }
      before = parsed_lines(@server).count(&refused)
      body = nil
      raw_client(@port) do |c|
        parts = (1..10).map { |i| "X-Part#{i}: #{"b" * 600}\r\n" }.join
        c.write("GET /n?refused=#{uid} HTTP/1.1\r\nHost: localhost\r\n#{parts}\r\n")
        res = c.read_response
        expect(res.status).to eq(431)
        body = res.body
      end
      lines = wait_for_lines(@server, before + 1, &refused)
      expect(lines.size).to eq(before + 1), @server.stderr
      expect(lines.last[:client]).to eq("127.0.0.1")
      expect(lines.last[:bytes]).to eq(body.bytesize.to_s)
    end

    it "logs each request of a keep-alive connection, pipelined ones included" do
      paths = Array.new(3) { |i| "/n?ka=#{i}-#{uid}" }
      raw_client(@port) do |c|
        c.write(paths.map { |p| "GET #{p} HTTP/1.1\r\nHost: localhost\r\n\r\n" }.join)
        paths.each { |p| expect(c.read_response.body).to eq(p.split("?", 2).last) }
      end
      paths.each { |p| expect_one_line(@server, "GET #{p} HTTP/1.1", status: 200, bytes: p.split("?", 2).last.bytesize) }
    end

    it "logs an HTTP/1.0 request with its protocol" do
      path = "/n?v10=#{uid}"
      raw_client(@port) do |c|
        c.request("GET", path, version: "HTTP/1.0")
        expect(c.read_response.status).to eq(200)
      end
      expect_one_line(@server, "GET #{path} HTTP/1.0", status: 200, bytes: path.split("?", 2).last.bytesize)
    end

    it "measures the duration of the handler" do
      path = "/sleep?s=0.2&id=#{uid}"
      expect(get(@port, path).code).to eq("200")
      line = request_lines(@server, "GET #{path} HTTP/1.1").first
      expect(line).not_to be_nil
      expect(Float(line[:ms])).to be_between(200, 5000)
    end

    it "writes the lines without waiting for more traffic or a stop" do
      path = "/n?alone=#{uid}"
      started = now
      get(@port, path)
      expect(wait_until(timeout: 2, interval: 0.01) do
               parsed_lines(@server).any? do |m|
                 m[:request].include?(path)
               end
             end).to be_truthy
      expect(now - started).to be < 1
    end

    it "writes only well-formed lines, one per line" do
      lines = access_lines(@server)
      expect(lines).not_to be_empty
      lines.each do |l|
        expect(l).to match(LOG_LINE)
        expect(l.scan(LOG_START).size).to eq(1), l
      end
    end
  end

  describe "a stop" do
    it "writes out the lines logged just before it" do
      with_server("app.ru", flags: ["-v"]) do |server|
        paths = Array.new(20) { |i| "/n?last=#{i}-#{uid}" }
        raw_client(server.port) do |c|
          paths.each do |p|
            c.request("GET", p)
            c.read_response
          end
        end
        server.stop
        logged = parsed_lines(server).map { |m| m[:request] }
        paths.each { |p| expect(logged.count("GET #{p} HTTP/1.1")).to eq(1), server.stderr }
      end
    end
  end

  describe "without -v" do
    it "logs no requests" do
      with_server("app.ru") do |server|
        expect(get(server.port, "/n?quiet=1").code).to eq("200")
        expect(post(server.port, "/echo", "x").code).to eq("200")
        expect(get(server.port, "/nope").code).to eq("404")
        sleep 0.3 # several flush periods
        server.stop
        expect(access_lines(server)).to eq([]), server.stderr
      end
    end
  end

  describe "Iodine.listen(log: true) from a plain Ruby script" do
    def script_server(port, log)
      cmd = [IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), fixture("log_api_script.rb"),
             port.to_s, log]
      @script = IodineSpec::Server.new(cmd, port: port)
      @script.start
    end

    after(:each) do |example|
      warn @script.output if example.exception && @script
      @script&.cleanup
      @script = nil
    end

    it "logs every request, the one that stops the server included" do
      server = script_server(free_port, "on")
      path = "/hello?x=#{uid}"
      res = get(server.port, path)
      expect(res.body).to start_with("api log x=")
      expect_one_line(server, "GET #{path} HTTP/1.1", status: 200, bytes: res.body.bytesize)
      expect(get(server.port, "/stop").body).to eq("stopping")
      expect(server.wait(timeout: 15)&.success?).to be(true), server.output
      expect(server.stdout).to include("START RETURNED")
      expect(parsed_lines(server).count { |m| m[:request] == "GET /stop HTTP/1.1" && m[:bytes] == "8" }).to eq(1),
                                                                                                            server.stderr
    end

    it "logs nothing with log: false" do
      server = script_server(free_port, "off")
      expect(get(server.port, "/hello?x=1").code).to eq("200")
      expect(get(server.port, "/stop").body).to eq("stopping")
      expect(server.wait(timeout: 15)&.success?).to be(true), server.output
      expect(access_lines(server)).to eq([]), server.stderr
    end
  end

  describe "in a cluster (-w 2)" do
    after(:each) do |example|
      warn @cluster.output if example.exception && @cluster
      @cluster&.cleanup
    end

    it "each worker logs its own requests, and lines never mix" do
      @cluster = IodineSpec::ClusterServer.launch("cluster.ru", workers: 2, threads: 2, flags: ["-v"],
                                                                env: { "WORKERS" => nil, "WEB_CONCURRENCY" => nil })
      id = uid
      # Long lines, many at once from both workers: a write that was not
      # whole lines would show as a broken or merged line.
      paths = Array.new(240) { |i| "/pid?n=#{i}-#{id}&pad=#{"z" * 1500}" }
      pids = Queue.new
      threads = paths.each_slice(30).map do |slice|
        Thread.new do
          slice.each do |p|
            res = @cluster.fetch(p)
            pids << res.body.strip.to_i if res.status == 200
          end
        end
      end
      threads.each(&:join)
      answered = Array.new(pids.size) { pids.pop }
      expect(answered.size).to eq(paths.size)
      expect(answered.uniq.size).to be >= 2

      wait_until(timeout: 5) { parsed_lines(@cluster).count { |m| m[:request].include?(id) } >= paths.size }
      @cluster.stop
      access_lines(@cluster).each do |l|
        expect(l).to match(LOG_LINE)
        expect(l.scan(LOG_START).size).to eq(1), l[0, 200]
      end
      logged = parsed_lines(@cluster).map { |m| m[:request] }.tally
      paths.each { |p| expect(logged["GET #{p} HTTP/1.1"]).to eq(1) }
    end
  end
end
