# frozen_string_literal: true

require "spec_helper"

# Issue 4, point 4: upload bodies are streamed to a temp file beyond a
# threshold, so the server's memory stays flat with many concurrent uploads,
# and the temp files go away with the requests.
RSpec.describe "Concurrent large uploads" do
  serve_fixture "upload_size.ru", threads: 4

  UPLOADS = 50
  SIZE = 20 * 1024 * 1024

  def peak_rss_kb(pid)
    File.read("/proc/#{pid}/status")[/^VmHWM:\s+(\d+)/, 1].to_i
  end

  def upload(size)
    chunk = "u" * 65_536
    sock = TCPSocket.new("127.0.0.1", @port)
    sock.write("POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: #{size}\r\nConnection: close\r\n\r\n")
    (size / chunk.bytesize).times { sock.write(chunk) }
    response = sock.read
    response[/\r\n\r\n(.*)\z/m, 1]
  ensure
    sock&.close
  end

  it "takes #{UPLOADS} concurrent 20 MB uploads with the server's memory bounded", timeout: 240 do
    before = peak_rss_kb(@server.pid)
    temp_before = Dir.glob(File.join(Dir.tmpdir, "iodine-body-*")).size
    answers = Array.new(UPLOADS) { Thread.new { upload(SIZE) } }.map(&:value)
    expect(answers).to all(eq("#{SIZE} File")) # every byte arrived, in a file, not in memory
    growth_mb = (peak_rss_kb(@server.pid) - before) / 1024.0
    # 1 GB went through; the server's peak grew by a few MB per upload at most
    # (measured: about 13 MB in all).
    expect(growth_mb).to be < 64, "peak RSS grew by #{growth_mb.round(1)} MB"
    expect(Dir.glob(File.join(Dir.tmpdir, "iodine-body-*")).size).to eq(temp_before)
    expect(get(@port, "/").code).to eq("200")
  end
end
