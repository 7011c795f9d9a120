# frozen_string_literal: true

require "spec_helper"

# Issue 2, point 3 (Rack 3 SPEC): streaming bodies, body.call(stream).
RSpec.describe "Rack 3 streaming bodies" do
  serve_fixture "rack3_stream.ru", threads: 2

  it "streams what the body writes, chunked, the first part before the last is made" do
    sock = TCPSocket.new("127.0.0.1", @port)
    begin
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      sock.write("GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
      seen = +""
      until seen.include?("one\n")
        raise "no first chunk within 5 s" unless sock.wait_readable(5)
        seen << sock.readpartial(4096)
      end
      first_at = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
      expect(seen).to include("Transfer-Encoding: chunked")
      expect(seen).not_to include("two") # the body sleeps 0.3 s before its second write
      expect(first_at).to be < 0.3
    ensure
      sock.close
    end
    res = get(@port, "/stream")
    expect(res.code).to eq("200")
    expect(res.body).to eq("one\ntwo\nthree\nfour\n")
    expect(res["content-type"]).to eq("text/plain")
  end

  it "accepts writes from another thread after call returns, until close" do
    expect(get(@port, "/thread").body).to eq("tick 0\ntick 1\ntick 2\n")
  end

  it "answers with the headers alone when the body closes without writing" do
    res = get(@port, "/empty")
    expect(res.code).to eq("204")
    expect(res.body).to be_nil
  end

  it "sends an HTTP/1.0 client the whole body without chunked encoding" do
    raw_client(@port) do |c|
      c.write("GET /stream HTTP/1.0\r\n\r\n")
      res = c.read_response
      expect(res["Transfer-Encoding"]).to be_nil
      expect(res.body).to eq("one\ntwo\nthree\nfour\n")
    end
  end

  it "cuts the response when the body raises, logs it, and keeps serving" do
    raw_client(@port) do |c|
      c.write("GET /raise HTTP/1.1\r\nHost: localhost\r\n\r\n")
      received = c.read_until_eof(timeout: 5) # the server closes the connection
      expect(received).to include("partial")
      expect(received).not_to end_with("0\r\n\r\n") # no clean end: the client can tell
    end
    # The response is cut before the exception reaches the log: wait for it.
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 5
    sleep 0.05 until @server.output.include?("failed mid-stream") ||
                     Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    expect(@server.output).to include("failed mid-stream")
    expect(get(@port, "/").body).to eq("ok")
  end
end
