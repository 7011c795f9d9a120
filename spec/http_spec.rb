# frozen_string_literal: true

require "spec_helper"
require "time"

# Issue 2, point 2: the HTTP/1.1 core (keep-alive, pipelining, request
# bodies, HEAD, 204/304, Date, framing, Connection: close, HTTP/1.0, no
# default headers).
RSpec.describe "HTTP/1.1 core" do
  serve_fixture "app.ru", threads: 2

  describe "keep-alive" do
    it "answers two requests on one connection" do
      raw_client(@port) do |c|
        c.request("GET", "/")
        first = c.read_response
        expect(first.status).to eq(200)
        expect(first.body).to eq("Hello from Rack!")
        expect(first["Connection"].to_s.downcase).not_to eq("close")

        c.request("GET", "/n?second")
        second = c.read_response
        expect(second.status).to eq(200)
        expect(second.body).to eq("second")
      end
    end

    it "keeps an idle connection open well within the default timeout" do
      raw_client(@port) do |c|
        c.request("GET", "/")
        expect(c.read_response.status).to eq(200)
        expect(c.closed_by_peer?(timeout: 1.5)).to be(false)
        c.request("GET", "/n?later")
        expect(c.read_response.body).to eq("later")
      end
    end

    it "closes an idle connection after the -k timeout" do
      with_server("app.ru", threads: 1, flags: ["-k", "1"]) do |server|
        raw_client(server.port) do |c|
          c.request("GET", "/")
          expect(c.read_response.status).to eq(200)
          started = now
          expect(c.closed_by_peer?(timeout: 4)).to be(true)
          waited = now - started
          expect(waited).to be > 0.5
          expect(waited).to be < 3.5
        end
      end
    end
  end

  describe "pipelining" do
    it "answers 20 requests sent in one write, in order" do
      raw_client(@port) do |c|
        c.write((1..20).map { |i| "GET /n?#{i} HTTP/1.1\r\nHost: localhost\r\n\r\n" }.join)
        bodies = Array.new(20) { c.read_response.body }
        expect(bodies).to eq((1..20).map(&:to_s))
      end
    end

    it "answers 1000 pipelined requests while the client keeps writing" do
      count = 1000
      raw_client(@port, timeout: 30) do |c|
        writer = Thread.new do
          (1..count).each_slice(50) do |slice|
            c.write(slice.map { |i| "GET /n?#{i} HTTP/1.1\r\nHost: localhost\r\n\r\n" }.join)
          end
        end
        bodies = Array.new(count) { c.read_response(timeout: 30).body }
        expect(writer.join(10)).to be_truthy
        expect(bodies).to eq((1..count).map(&:to_s))
      end
    end

    it "throttles a client that pipelines without reading" do
      count = 100 # 100 responses of 1 MB each
      raw_client(@port, timeout: 30) do |c|
        c.write("GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n" * count)
        sleep 2 # the client reads nothing meanwhile
        served = JSON.parse(get(@port, "/counters").body)["big"].to_i
        # Only what fits in socket buffers may be produced ahead of the reader.
        expect(served).to be < 40
        bodies = Array.new(count) { c.read_response(timeout: 30).body.bytesize }
        expect(bodies).to eq([1_048_576] * count)
      end
    end

    it "answers requests with bodies pipelined behind each other" do
      raw_client(@port) do |c|
        reqs = %w[alpha beta gamma].map do |b|
          "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: #{b.bytesize}\r\n\r\n#{b}"
        end
        c.write(reqs.join)
        expect(Array.new(3) { c.read_response.body }).to eq(%w[alpha beta gamma])
      end
    end
  end

  describe "request bodies" do
    it "reads a Content-Length body" do
      res = post(@port, "/echo", "x=1&y=\u00e9".b, headers: { "Content-Type" => "application/octet-stream" })
      expect(res.code).to eq("200")
      expect(res.body.b).to eq("x=1&y=\u00e9".b)
    end

    it "reads a chunked request body" do
      payload = Random.new(7).bytes(300_000)
      raw_client(@port, timeout: 10) do |c|
        c.write("POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
        payload.bytes.each_slice(65_536).with_index do |slice, i|
          chunk = slice.pack("C*")
          c.write("#{chunk.bytesize.to_s(16)}#{i.zero? ? ";ext=1" : ""}\r\n#{chunk}\r\n")
        end
        c.write("0\r\n\r\n")
        res = c.read_response
        expect(res.status).to eq(200)
        data = JSON.parse(res.body)
        expect(data["size"]).to eq(payload.bytesize)
        expect(data["sha256"]).to eq(Digest::SHA256.hexdigest(payload))
        expect(data["rewind_same"]).to be(true)
        expect(data["encoding"]).to eq("ASCII-8BIT")
      end
    end

    it "reads an empty chunked body" do
      raw_client(@port) do |c|
        c.write("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        res = c.read_response
        expect(res.status).to eq(200)
        expect(res.body).to eq("")
      end
    end
  end

  describe "HEAD" do
    it "sends the headers but no body" do
      raw_client(@port) do |c|
        c.request("HEAD", "/")
        res = c.read_response(head: true)
        expect(res.status).to eq(200)
        expect(res["Content-Length"]).to eq("16")
        # If a body had been sent it would sit in front of the next answer.
        c.request("GET", "/n?after-head")
        nxt = c.read_response
        expect(nxt.status).to eq(200)
        expect(nxt.body).to eq("after-head")
      end
    end

    it "sends no body for a HEAD to a streamed response" do
      raw_client(@port) do |c|
        c.request("HEAD", "/each")
        res = c.read_response(head: true)
        expect(res.status).to eq(200)
        c.request("GET", "/n?after-streamed-head")
        expect(c.read_response.body).to eq("after-streamed-head")
      end
    end
  end

  describe "responses without a body" do
    [204, 304].each do |code|
      it "sends #{code} without a body or Content-Length" do
        raw_client(@port) do |c|
          c.request("GET", "/status/#{code}")
          res = c.read_response
          expect(res.status).to eq(code)
          expect(res.header?("Content-Length")).to be(false)
          expect(res.header?("Transfer-Encoding")).to be(false)
          c.request("GET", "/n?after-#{code}")
          nxt = c.read_response
          expect(nxt.body).to eq("after-#{code}")
        end
      end
    end
  end

  describe "response headers" do
    it "sends a current Date header" do
      res = get(@port, "/")
      expect(res["Date"]).not_to be_nil
      expect((Time.httpdate(res["Date"]) - Time.now).abs).to be < 10
    end

    it "adds no Server header and no default Content-Type" do
      raw_client(@port) do |c|
        c.request("GET", "/bare")
        res = c.read_response
        expect(res.status).to eq(200)
        expect(res.body).to eq("bare")
        expect(res.header?("Server")).to be(false)
        expect(res.header?("Content-Type")).to be(false)
      end
    end

    it "frames an Array body with Content-Length" do
      raw_client(@port) do |c|
        c.request("GET", "/n?framed")
        res = c.read_response
        expect(res["Content-Length"]).to eq("6")
        expect(res.chunked?).to be(false)
      end
    end
  end

  describe "Connection: close" do
    it "answers, says Connection: close and closes the connection" do
      raw_client(@port) do |c|
        c.request("GET", "/", headers: { "Connection" => "close" })
        res = c.read_response
        expect(res.status).to eq(200)
        expect(res.body).to eq("Hello from Rack!")
        expect(res["Connection"].to_s.downcase).to eq("close")
        expect(c.closed_by_peer?(timeout: 3)).to be(true)
      end
    end
  end

  describe "HTTP/1.0 clients" do
    it "answers an HTTP/1.0 request and closes the connection" do
      raw_client(@port) do |c|
        c.write("GET / HTTP/1.0\r\n\r\n")
        res = c.read_response
        expect(res.version).to match(%r{\AHTTP/1\.[01]\z})
        expect(res.status).to eq(200)
        expect(res.body).to eq("Hello from Rack!")
        expect(c.closed_by_peer?(timeout: 3)).to be(true)
      end
    end

    it "never sends chunked encoding to an HTTP/1.0 client" do
      raw_client(@port) do |c|
        c.write("GET /each HTTP/1.0\r\nHost: localhost\r\n\r\n")
        res = c.read_response
        expect(res.status).to eq(200)
        expect(res.chunked?).to be(false)
        expect(res.body).to eq("one-two-three")
        expect(c.closed_by_peer?(timeout: 3)).to be(true)
      end
    end
  end
end
