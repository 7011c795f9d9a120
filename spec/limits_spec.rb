# frozen_string_literal: true

require "spec_helper"

# Issue 2, point 5: each limit answers with its status, the connection is
# handled cleanly (closed after the refusal) and the server keeps serving.
RSpec.describe "Limits" do
  # -maxln 1024 bytes per line, -maxhd 4 KB of headers, -maxbd 1 MB of body.
  serve_fixture "app.ru", threads: 2, flags: ["-maxln", "1024", "-maxhd", "4", "-maxbd", "1"]

  # Sends raw bytes on a fresh connection, expects `status` and a closed
  # connection, then checks a normal request still works.
  def expect_refusal(raw, status, port: @port)
    raw_client(port, timeout: 10) do |c|
      c.write(raw)
      res = c.read_response
      expect(res.status).to eq(status)
      expect(c.closed_by_peer?(timeout: 3)).to be(true)
    end
    expect_still_serving(port)
  end

  def expect_still_serving(port = @port)
    res = get(port, "/")
    expect(res.code).to eq("200")
    expect(res.body).to eq("Hello from Rack!")
  end

  def request_with(headers, path: "/")
    +"GET #{path} HTTP/1.1\r\nHost: localhost\r\n#{headers.map { |k, v| "#{k}: #{v}\r\n" }.join}\r\n"
  end

  it "accepts requests within every limit" do
    raw_client(@port) do |c|
      c.write(request_with({ "X-Long" => "a" * 900 }.merge((1..100).to_h { |i| ["X-H#{i}", "v"] })))
      expect(c.read_response.status).to eq(200)
    end
    payload = Random.new(1).bytes(900 * 1024)
    res = post(@port, "/upload", payload)
    expect(res.code).to eq("200")
    expect(JSON.parse(res.body)["sha256"]).to eq(Digest::SHA256.hexdigest(payload))
  end

  it "answers 431 to a header line over -maxln" do
    expect_refusal(request_with({ "X-Long" => "a" * 2000 }), 431)
  end

  it "answers 414 to a request line over -maxln" do
    expect_refusal(request_with({}, path: "/n?#{"q" * 2000}"), 414)
  end

  it "answers 431 when all headers together exceed -maxhd" do
    headers = (1..10).to_h { |i| ["X-Part#{i}", "b" * 600] } # 10 lines of ~610 bytes, each under 1024
    expect_refusal(request_with(headers), 431)
  end

  it "answers 431 to more than 128 headers" do
    headers = (1..129).to_h { |i| ["X-H#{i}", "v"] } # ~1.3 KB in all: only the count is over
    expect_refusal(request_with(headers), 431)
  end

  # Writes the body in a thread (the server may refuse and close midway).
  def write_in_background(client, chunks)
    Thread.new do
      chunks.each { |chunk| client.write(chunk) }
      :sent
    rescue Errno::EPIPE, Errno::ECONNRESET, IOError
      :refused_midway
    end
  end

  it "answers 413 to a Content-Length body over -maxbd" do
    size = 2 * 1024 * 1024
    raw_client(@port, timeout: 15) do |c|
      c.write("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: #{size}\r\n\r\n")
      writer = write_in_background(c, Array.new(32) { "z" * 65_536 })
      res = c.read_response
      expect(res.status).to eq(413)
      expect(writer.join(10)).to be_truthy
      expect(c.closed_by_peer?(timeout: 3)).to be(true)
    end
    expect_still_serving
  end

  it "answers 413 to a Content-Length over -maxbd after at most the first 16 KB of the body" do
    raw_client(@port, timeout: 5) do |c|
      c.write("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: #{2 * 1024 * 1024}\r\n\r\n")
      c.write("z" * 16_384)
      res = c.read_response
      expect(res.status).to eq(413)
      expect(c.closed_by_peer?(timeout: 3)).to be(true)
    end
    expect_still_serving
  end

  it "answers 413 to a chunked body that grows over -maxbd" do
    raw_client(@port, timeout: 15) do |c|
      c.write("POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
      chunk = "y" * 65_536
      chunks = Array.new(32) { "#{chunk.bytesize.to_s(16)}\r\n#{chunk}\r\n" } << "0\r\n\r\n" # 2 MB
      writer = write_in_background(c, chunks)
      res = c.read_response
      expect(res.status).to eq(413)
      expect(writer.join(10)).to be_truthy
    end
    expect_still_serving
  end

  it "answers 400 to a malformed request line" do
    expect_refusal("THIS IS NOT HTTP\r\n\r\n", 400)
  end

  it "answers 400 to a malformed chunked body" do
    raw_client(@port) do |c|
      c.write("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
      res = c.read_response
      expect(res.status).to eq(400)
      expect(c.closed_by_peer?(timeout: 3)).to be(true)
    end
    expect_still_serving
  end

  describe "defaults" do
    before(:context) { @default = IodineSpec::Server.launch("app.ru", threads: 1) }
    after(:context) { @default&.cleanup }

    it "accepts an 8000-byte header line and refuses a 9000-byte one with 431" do
      raw_client(@default.port) do |c|
        c.write(request_with({ "X-Long" => "d" * 8000 }))
        expect(c.read_response.status).to eq(200)
      end
      expect_refusal(request_with({ "X-Long" => "d" * 9000 }), 431, port: @default.port)
    end

    # Real clients either send the body at once (answered after fasthttp's
    # first 8 KB) or ask with Expect: 100-continue (answered before any body).
    it "refuses a Content-Length over the 50 MB default with 413 after the first bytes of the body" do
      raw_client(@default.port) do |c|
        c.write("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: #{51 * 1024 * 1024}\r\n\r\n")
        c.write("z" * 16_384)
        expect(c.read_response.status).to eq(413)
      end
      expect_still_serving(@default.port)
    end

    it "refuses an oversized body announced with Expect: 100-continue before it is sent" do
      raw_client(@default.port) do |c|
        c.write("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: #{51 * 1024 * 1024}\r\n" \
                "Expect: 100-continue\r\n\r\n")
        res = c.read_response
        expect(res.status).to eq(413)
        expect(res.body).to eq("Payload Too Large")
      end
      expect_still_serving(@default.port)
    end

    it "sends 100 Continue to an acceptable body announced with Expect, then serves it" do
      raw_client(@default.port) do |c|
        c.write("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        expect(c.read_response.status).to eq(100)
        c.write("hello")
        expect(c.read_response.status).to eq(200)
      end
    end
  end
end
