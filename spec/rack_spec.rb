# frozen_string_literal: true

require "spec_helper"

# Issue 2, point 3: the Rack bridge (env, rack.input, bodies, close,
# multi-value headers, hijack, exceptions, Ruby threads, signals).
RSpec.describe "Rack bridge" do
  before(:context) do
    @dir = Dir.mktmpdir("iodine-rack-spec")
    @file = File.join(@dir, "payload.bin")
    File.binwrite(@file, Random.new(42).bytes(200_000))
    @server = IodineSpec::Server.launch("app.ru", threads: 4, env: { "IODINE_SPEC_FILE" => @file })
    @port = @server.port
  end

  after(:context) do
    @server&.cleanup
    FileUtils.rm_rf(@dir) if @dir
  end

  after(:each) do |example|
    warn @server.output if example.exception && @server
  end

  def counters
    JSON.parse(get(@port, "/counters").body)
  end

  describe "Rack::Lint" do
    before(:context) do
      @lint = IodineSpec::Server.launch("lint.ru", threads: 2)
    end

    after(:context) { @lint&.cleanup }

    # Lint raises inside the server; the error would only show in the log.
    after(:each) do |example|
      warn @lint.output if example.exception && @lint
      expect(@lint.stderr).not_to match(/LintError|Rack::Lint/)
    end

    it "passes GET with a query string" do
      res = get(@lint.port, "/query?a=1&b=two")
      expect(res.code).to eq("200")
      expect(res.body).to eq("a=1&b=two")
      res = get(@lint.port, "/")
      expect(res.code).to eq("200")
      expect(res.body).to eq("hello")
    end

    it "passes POST, reading rack.input every way Lint checks" do
      body = "line one\nline two\nlast"
      res = post(@lint.port, "/echo", body, headers: { "Content-Type" => "text/plain" })
      expect(res.code).to eq("200")
      expect(res.body).to eq("#{body.bytesize}|9|true|3|#{body}")
    end

    it "passes a chunked POST" do
      raw_client(@lint.port) do |c|
        c.write("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" \
                "4\r\nab\nc\r\n3\r\ndef\r\n0\r\n\r\n")
        res = c.read_response
        expect(res.status).to eq(200)
        expect(res.body).to eq("7|3|true|3|ab\ncdef")
      end
    end

    it "passes HEAD" do
      raw_client(@lint.port) do |c|
        c.request("HEAD", "/")
        res = c.read_response(head: true)
        expect(res.status).to eq(200)
        expect(res["Content-Length"]).to eq("5")
        c.request("GET", "/")
        expect(c.read_response.body).to eq("hello")
      end
    end

    it "passes 204, a streamed body and a hijack" do
      expect(get(@lint.port, "/empty").code).to eq("204")
      res = get(@lint.port, "/stream")
      expect(res.code).to eq("200")
      expect(res.body).to eq("abc")
      raw_client(@lint.port) do |c|
        c.request("GET", "/hijack")
        expect(c.read_until_eof).to eq("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlint")
      end
    end
  end

  describe "env" do
    it "carries the request line, Host, peer and headers" do
      res = get(@port, "/env?x=1&y=%20two", headers: { "Host" => "example.test:8123",
                                                       "X-Custom-Thing" => "abc" })
      expect(res.code).to eq("200")
      env = JSON.parse(res.body)
      expect(env).to include(
        "REQUEST_METHOD" => "GET",
        "SCRIPT_NAME" => "",
        "PATH_INFO" => "/env",
        "QUERY_STRING" => "x=1&y=%20two",
        "SERVER_NAME" => "example.test",
        "SERVER_PORT" => "8123",
        "SERVER_PROTOCOL" => "HTTP/1.1",
        "REMOTE_ADDR" => "127.0.0.1",
        "HTTP_HOST" => "example.test:8123",
        "HTTP_X_CUSTOM_THING" => "abc",
        "rack.url_scheme" => "http",
        "rack.run_once" => false,
        "rack.hijack?" => true,
        "input_encoding" => "ASCII-8BIT",
        "errors_ok" => true,
        "string_values" => true
      )
      expect(env["rack.multithread"]).to be(true)
      expect(env["rack.version"]).to be_an(Array)
    end

    it "takes SERVER_PORT 80 when Host has no port" do
      env = JSON.parse(get(@port, "/env", headers: { "Host" => "plain.example" }).body)
      expect(env["SERVER_NAME"]).to eq("plain.example")
      expect(env["SERVER_PORT"]).to eq("80")
    end

    it "passes Content-Type and Content-Length as CONTENT_* only" do
      res = post(@port, "/env", "abc", headers: { "Content-Type" => "text/x-test" })
      env = JSON.parse(res.body)
      expect(env["REQUEST_METHOD"]).to eq("POST")
      expect(env["CONTENT_TYPE"]).to eq("text/x-test")
      expect(env["CONTENT_LENGTH"]).to eq("3")
      expect(env).not_to have_key("HTTP_CONTENT_TYPE")
      expect(env).not_to have_key("HTTP_CONTENT_LENGTH")
    end

    it "leaves QUERY_STRING empty (not missing) without a query" do
      env = JSON.parse(get(@port, "/env").body)
      expect(env["QUERY_STRING"]).to eq("")
    end
  end

  describe "rack.input" do
    it "takes a 5 MB upload, binary and rewindable" do
      payload = Random.new(5).bytes(5 * 1024 * 1024)
      res = post(@port, "/upload", payload, headers: { "Content-Type" => "application/octet-stream" },
                                            timeout: 30)
      expect(res.code).to eq("200")
      data = JSON.parse(res.body)
      expect(data["size"]).to eq(payload.bytesize)
      expect(data["sha256"]).to eq(Digest::SHA256.hexdigest(payload))
      expect(data["encoding"]).to eq("ASCII-8BIT")
      expect(data["rewind_same"]).to be(true)
      expect(data["read10"]).to eq(10)
      expect(data["content_length"]).to eq(payload.bytesize.to_s)
    end

    it "is empty (not nil) for a GET" do
      data = JSON.parse(get(@port, "/upload").body)
      expect(data["size"]).to eq(0)
      expect(data["encoding"]).to eq("ASCII-8BIT")
      expect(data["read10"]).to be_nil # read(10) at EOF is nil
    end
  end

  describe "response bodies" do
    it "sends an Array body" do
      res = get(@port, "/")
      expect(res.code).to eq("200")
      expect(res.body).to eq("Hello from Rack!")
      expect(res["Content-Length"]).to eq("16")
    end

    it "sends an each-only body in full" do
      raw_client(@port) do |c|
        c.request("GET", "/each")
        res = c.read_response
        expect(res.status).to eq(200)
        expect(res.body).to eq("one-two-three")
        expect(res.chunked? || res["Content-Length"] == "13").to be(true)
      end
    end

    it "streams an each body: chunked, and the first chunk arrives before the last is produced" do
      raw_client(@port, timeout: 10) do |c|
        started = now
        c.request("GET", "/stream?pause=1")
        head = c.read_through("\r\n\r\n")
        expect(head).to match(%r{\AHTTP/1\.1 200})
        expect(head).to match(/^Transfer-Encoding: chunked\r$/i)
        c.read_through("chunk-1;")
        first_at = now - started
        c.read_through("chunk-3;\r\n")
        c.read_through("0\r\n\r\n")
        done_at = now - started
        # chunk-3 is produced 2 s after chunk-1.
        expect(done_at).to be >= 1.9
        expect(first_at).to be < 1.0
        expect(first_at).to be < done_at - 1.5
      end
    end

    it "decodes a streamed body as the full body" do
      raw_client(@port) do |c|
        c.request("GET", "/stream?pause=0.01")
        res = c.read_response
        expect(res.chunked?).to be(true)
        expect(res.body).to eq("chunk-1;chunk-2;chunk-3;")
      end
    end

    it "sends a to_ary body" do
      res = get(@port, "/to_ary")
      expect(res.code).to eq("200")
      expect(res.body).to eq("ary-body")
    end

    it "sends a to_path body from the file, without iterating it in Ruby" do
      before = counters["path_each"].to_i
      res = get(@port, "/file")
      expect(res.code).to eq("200")
      expect(res.body.b).to eq(File.binread(@file))
      expect(res["Content-Length"]).to eq(File.size(@file).to_s)
      expect(counters["path_each"].to_i).to eq(before)
    end

    it "serves the file named by X-Sendfile" do
      res = get(@port, "/sendfile")
      expect(res.code).to eq("200")
      expect(res.body.b).to eq(File.binread(@file))
      expect(res["Content-Length"]).to eq(File.size(@file).to_s)
    end

    it "always calls close on the body (each, to_ary, streamed, to_path, HEAD)" do
      before = counters
      expect(get(@port, "/each").code).to eq("200")
      expect(get(@port, "/to_ary").code).to eq("200")
      expect(get(@port, "/stream?pause=0.01").code).to eq("200")
      expect(get(@port, "/file").code).to eq("200")
      expect(http(@port, :head, "/each").code).to eq("200")
      expected = {
        "close" => 5, "close:EachBody" => 2, "close:AryBody" => 1,
        "close:SlowStreamBody" => 1, "close:PathBody" => 1
      }
      delta = nil
      wait_until(timeout: 5) do
        after = counters
        delta = expected.keys.to_h { |k| [k, after[k].to_i - before[k].to_i] }
        delta == expected
      end
      expect(delta).to eq(expected)
    end
  end

  describe "body.close when the client goes away" do
    it "still calls close on a streamed body whose client disconnected midway" do
      before = counters["close:SlowStreamBody"].to_i
      raw_client(@port) do |c|
        c.request("GET", "/stream?pause=0.5")
        c.read_through("chunk-1;")
      end
      closed = wait_until(timeout: 5) { counters["close:SlowStreamBody"].to_i > before }
      expect(closed).to be(true)
      expect(get(@port, "/").body).to eq("Hello from Rack!")
    end
  end

  describe "multi-value headers" do
    it "splits a Rack 2 \"\\n\" value into several header lines" do
      raw_client(@port) do |c|
        c.request("GET", "/cookies")
        res = c.read_response
        expect(res.status).to eq(200)
        expect(res.all("Set-Cookie")).to eq(["a=1; path=/", "b=2; path=/"])
        expect(res.head).not_to include("path=/\nb=2")
      end
    end

    it "splits a Rack 3 Array value into several header lines" do
      raw_client(@port) do |c|
        c.request("GET", "/array_header")
        res = c.read_response
        expect(res.status).to eq(200)
        expect(res.all("X-Multi")).to eq(%w[first second])
      end
    end
  end

  describe "rack.hijack" do
    it "hands the socket to the app, which writes a raw response and closes" do
      raw_client(@port) do |c|
        c.request("GET", "/hijack")
        expect(c.read_until_eof).to eq(
          "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Hijacked: yes\r\nConnection: close\r\n\r\nhijacked"
        )
      end
    end

    it "lets the app read from the hijacked socket too" do
      raw_client(@port) do |c|
        c.request("GET", "/hijack_echo")
        c.read_through("\r\n\r\n")
        c.write("ping from the client\n")
        expect(c.read_through("\n")).to eq("PING FROM THE CLIENT\n")
        expect(c.closed_by_peer?(timeout: 3)).to be(true)
      end
    end

    it "keeps serving after hijacks" do
      expect(get(@port, "/").body).to eq("Hello from Rack!")
    end
  end

  describe "exceptions and Ruby threads (-t 1)" do
    before(:context) do
      @one = IodineSpec::Server.launch("app.ru", threads: 1)
    end

    after(:context) { @one&.cleanup }

    after(:each) do |example|
      warn @one.output if example.exception && @one
    end

    it "answers 500, logs the exception class and message, then serves the next request" do
      res = get(@one.port, "/raise")
      expect(res.code).to eq("500")
      expect(@one.wait_for_log(/IodineSpecError/)).to be_truthy
      expect(@one.stderr).to include("kaboom from the spec app")
      res = get(@one.port, "/")
      expect(res.code).to eq("200")
      expect(res.body).to eq("Hello from Rack!")
    end

    it "does not pass off a body that raised midway as complete" do
      raw_client(@one.port) do |c|
        c.request("GET", "/raise_in_each")
        raw = c.read_until_eof(timeout: 5)
        complete_ok = raw.start_with?("HTTP/1.1 200") && raw.end_with?("0\r\n\r\n")
        expect(complete_ok).to be(false), "got a complete 200 response: #{raw.inspect}"
      end
      expect(@one.wait_for_log(/kaboom while streaming/)).to be_truthy
      expect(get(@one.port, "/").body).to eq("Hello from Rack!")
    end

    it "keeps its only thread alive through repeated exceptions" do
      5.times { expect(get(@one.port, "/raise").code).to eq("500") }
      expect(get(@one.port, "/").body).to eq("Hello from Rack!")
      expect(@one.alive?).to be(true)
    end

    it "runs requests one at a time with -t 1" do
      started = now
      threads = Array.new(2) { Thread.new { get(@one.port, "/sleep?s=1").code } }
      expect(threads.map(&:value)).to eq(%w[200 200])
      expect(now - started).to be >= 1.9
    end

    it "runs requests concurrently with -t 4" do
      started = now
      threads = Array.new(4) { Thread.new { get(@port, "/sleep?s=1").code } }
      expect(threads.map(&:value)).to eq(%w[200 200 200 200])
      expect(now - started).to be < 1.8
    end
  end

  describe "signals" do
    it "keeps SA_ONSTACK on Ruby's handlers, including one trapped after start" do
      res = get(@port, "/sigaction")
      expect(res.code).to eq("200")
      expect(JSON.parse(res.body)).to eq("INT" => true, "TERM" => true, "USR2" => true)
    end
  end
end
