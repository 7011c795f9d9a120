# frozen_string_literal: true

require "spec_helper"

# Issue 2: an ordinary Sinatra app (Debian's ruby-sinatra), modular style,
# run through exe/iodine with a config.ru.
RSpec.describe "A Sinatra app" do
  serve_fixture "sinatra.ru", threads: 2

  it "answers GET /" do
    res = get(@port, "/")
    expect(res.code).to eq("200")
    expect(res.body).to eq("Hello from Sinatra!")
    expect(res["Content-Type"]).to start_with("text/html")
  end

  it "routes with parameters" do
    expect(get(@port, "/hello/Iodine").body).to eq("Hello, Iodine!")
  end

  it "sees the query, host and port" do
    res = get(@port, "/json?a=1&b=two", headers: { "Host" => "sinatra.test:4567" })
    expect(res["Content-Type"]).to start_with("application/json")
    expect(JSON.parse(res.body)).to eq("query" => { "a" => "1", "b" => "two" },
                                       "host" => "sinatra.test", "port" => 4567)
  end

  it "parses a form POST" do
    res = post(@port, "/form", "first=Ada&last=Lovelace",
               headers: { "Content-Type" => "application/x-www-form-urlencoded" })
    expect(res.code).to eq("200")
    expect(res.body).to eq("Ada Lovelace")
  end

  it "halts, redirects and answers 404" do
    res = get(@port, "/forbidden")
    expect(res.code).to eq("403")
    expect(res.body).to eq("go away")
    res = get(@port, "/redirect", headers: { "Host" => "sinatra.test" })
    expect(res.code).to eq("302")
    expect(res["Location"]).to eq("http://sinatra.test/")
    expect(get(@port, "/nope").code).to eq("404")
  end

  it "runs its error handlers" do
    res = get(@port, "/boom")
    expect(res.code).to eq("500")
    expect(res.body).to eq("handled: sinatra boom")
    expect(get(@port, "/").code).to eq("200")
  end

  it "sends a file with send_file (Rack::Files, a to_path body served by Go), with ranges" do
    source = File.read(IodineSpec.fixture("sinatra.ru"))
    res = get(@port, "/file")
    expect(res.code).to eq("200")
    expect(res.body).to eq(source)
    expect(res["Content-Type"]).to start_with("text/plain")
    part = get(@port, "/file", headers: { "Range" => "bytes=0-9" })
    expect(part.code).to eq("206")
    expect(part.body).to eq(source[0, 10])
  end
end
