# frozen_string_literal: true

require "spec_helper"
require "fileutils"
require "zlib"
require "time"

# Issue 4, point 1: static files from -www, served by Go.
RSpec.describe "Static files (-www)" do
  before(:context) do
    @dir = Dir.mktmpdir("iodine-www")
    @outside = Dir.mktmpdir("iodine-outside")
    File.write(File.join(@outside, "secret.txt"), "SECRET")
    File.write(File.join(@dir, "hello.txt"), "hello static\n")
    File.write(File.join(@dir, "page.html"), "<p>page</p>")
    File.write(File.join(@dir, "notes.md"), "# notes")
    FileUtils.mkdir_p(File.join(@dir, "docs"))
    File.write(File.join(@dir, "docs", "index.html"), "<h1>docs</h1>")
    @big = Random.new(42).bytes(100_000)
    File.binwrite(File.join(@dir, "big.bin"), @big)
    File.write(File.join(@dir, "style.css"), "body { color: red }\n" * 20)
    File.binwrite(File.join(@dir, "style.css.gz"), Zlib.gzip("body { color: red }\n" * 20))
    File.binwrite(File.join(@dir, "style.css.br"), "BROTLI-BYTES")
    File.symlink(File.join(@outside, "secret.txt"), File.join(@dir, "escape.txt"))
    File.symlink(@outside, File.join(@dir, "outdir"))
    @server = IodineSpec::Server.launch("app.ru", threads: 1, flags: ["-www", @dir, "-maxage", "600"])
    @port = @server.port
  end

  after(:context) do
    @server&.cleanup
    FileUtils.rm_rf([@dir, @outside].compact)
  end

  after(:each) { |example| warn @server.output if example.exception && @server }

  def head(path, headers = {})
    Net::HTTP.start("127.0.0.1", @port) { |h| h.head(path, headers) }
  end

  it "serves a file with its type, length, validators and max-age" do
    res = get(@port, "/hello.txt")
    expect(res.code).to eq("200")
    expect(res.body).to eq("hello static\n")
    expect(res["Content-Type"]).to start_with("text/plain")
    expect(res["Content-Length"]).to eq("13")
    expect(res["Last-Modified"]).to eq(File.mtime(File.join(@dir, "hello.txt")).httpdate)
    expect(res["ETag"]).to match(/\A"[0-9a-f]+-[0-9a-f]+"\z/)
    expect(res["Cache-Control"]).to eq("max-age=600")
  end

  it "sends a 100 KB file whole" do
    res = get(@port, "/big.bin")
    expect(res.code).to eq("200")
    expect(res.body.b).to eq(@big)
  end

  it "answers HEAD with the headers and no body" do
    res = head("/big.bin")
    expect(res.code).to eq("200")
    expect(res["Content-Length"]).to eq("100000")
    expect(res.body).to be_nil
  end

  it "answers conditional GETs with 304 (If-None-Match, If-Modified-Since)" do
    etag = get(@port, "/hello.txt")["ETag"]
    expect(get(@port, "/hello.txt", headers: { "If-None-Match" => etag }).code).to eq("304")
    mtime = File.mtime(File.join(@dir, "hello.txt")).httpdate
    expect(get(@port, "/hello.txt", headers: { "If-Modified-Since" => mtime }).code).to eq("304")
    expect(get(@port, "/hello.txt", headers: { "If-None-Match" => '"other"' }).code).to eq("200")
  end

  it "serves single byte ranges (206) and refuses unsatisfiable ones (416)" do
    res = get(@port, "/big.bin", headers: { "Range" => "bytes=100-199" })
    expect(res.code).to eq("206")
    expect(res["Content-Range"]).to eq("bytes 100-199/100000")
    expect(res.body.b).to eq(@big[100, 100])
    tail = get(@port, "/big.bin", headers: { "Range" => "bytes=-10" })
    expect(tail.body.b).to eq(@big[-10..])
    bad = get(@port, "/big.bin", headers: { "Range" => "bytes=200000-" })
    expect(bad.code).to eq("416")
    expect(bad["Content-Range"]).to eq("bytes */100000")
  end

  it "tries .html/.htm/.txt/.md for a name without extension, and a folder's index.html" do
    expect(get(@port, "/page").body).to eq("<p>page</p>")
    expect(get(@port, "/hello").body).to eq("hello static\n")
    expect(get(@port, "/notes").body).to eq("# notes")
    expect(get(@port, "/docs/").body).to eq("<h1>docs</h1>")
    expect(get(@port, "/docs").body).to eq("<h1>docs</h1>")
  end

  it "prefers brotli, then gzip, when the client accepts them, with Vary" do
    br = get(@port, "/style.css", headers: { "Accept-Encoding" => "gzip, br" })
    expect(br["Content-Encoding"]).to eq("br")
    expect(br["Vary"]).to eq("Accept-Encoding")
    expect(br["Content-Type"]).to start_with("text/css")
    expect(br.body).to eq("BROTLI-BYTES")
    gz = get(@port, "/style.css", headers: { "Accept-Encoding" => "gzip" })
    expect(gz["Content-Encoding"]).to eq("gzip")
    expect(Zlib.gunzip(gz.body)).to eq("body { color: red }\n" * 20)
    plain = get(@port, "/style.css", headers: { "Accept-Encoding" => "identity" })
    expect(plain["Content-Encoding"]).to be_nil
    expect(plain.body).to eq("body { color: red }\n" * 20)
  end

  it "lets a missing file fall through to the app" do
    res = get(@port, "/")
    expect(res.body).to eq("Hello from Rack!")
    expect(get(@port, "/no/such/file.txt").body).to eq("not found") # the app's own answer
  end

  it "leaves other methods to the app" do
    res = post(@port, "/echo", "x=1", headers: { "Content-Type" => "application/x-www-form-urlencoded" })
    expect(res.body).not_to eq("hello static\n")
  end

  HOSTILE = [
    "/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
    "/docs/../../secret.txt", "/docs/%2e%2e/%2e%2e/secret.txt", "/escape.txt", "/outdir/secret.txt",
    "/hello.txt%00.html", "/%00", "/..", "/docs/..%5c..%5csecret.txt", "//etc/passwd",
    "/%252e%252e/secret.txt", "/./../secret.txt", "/outdir/../outdir/secret.txt"
  ].freeze

  it "never serves anything outside the folder (#{HOSTILE.size} hostile paths)" do
    HOSTILE.each do |path|
      raw_client(@port) do |c|
        c.write("GET #{path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        res = c.read_response
        expect(res.body).not_to include("SECRET"), "#{path} leaked the outside file"
        expect(res.body).not_to include("root:"), "#{path} leaked /etc/passwd"
        expect([200, 400, 404]).to include(res.status), "#{path}: #{res.status}"
      end
    end
    expect(get(@port, "/hello.txt").code).to eq("200")
  end
end
