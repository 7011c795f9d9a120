# frozen_string_literal: true

require "spec_helper"

# Issue 2: a Rails app (Debian's ruby-rails 6.1) served by exe/iodine.
RSpec.describe "A Rails app" do
  serve_fixture "rails/config.ru", threads: 2, ready_timeout: 30

  it "renders from a controller" do
    res = get(@port, "/")
    expect(res.code).to eq("200")
    expect(res.body).to match(/\Arails 6\.\d+\.\d+.* pid \d+\z/)
    expect(res["Content-Type"]).to start_with("text/plain")
  end

  it "parses a form POST and answers JSON" do
    res = post(@port, "/echo", "name=Ada",
               headers: { "Content-Type" => "application/x-www-form-urlencoded" })
    expect(res.code).to eq("200")
    expect(JSON.parse(res.body)).to eq("name" => "Ada", "size" => 8)
  end

  it "sends a file with send_file (a to_path body)" do
    res = get(@port, "/file")
    expect(res.code).to eq("200")
    expect(res.body).to eq(File.read(IodineSpec.fixture("rails/config.ru")))
  end

  it "turns a controller exception into Rails' 500 and keeps serving" do
    expect(get(@port, "/boom").code).to eq("500")
    expect(get(@port, "/").code).to eq("200")
  end

  it "answers 404 for an unknown route" do
    expect(get(@port, "/nowhere").code).to eq("404")
  end
end

# `rails server -u iodine` (Rails 6.1 takes the server with -u) finds
# Rack::Handler::Iodine and serves the app.
RSpec.describe "rails server -u iodine" do
  it "boots the app on iodine and serves it" do
    port = IodineSpec.free_port
    Dir.mktmpdir do |dir|
      rails = IodineSpec.fixture("rails/bin/rails")
      cmd = [IodineSpec::RUBY, rails, "server", "-u", "iodine", "-p", port.to_s, "-b", "127.0.0.1",
             "-P", File.join(dir, "server.pid")]
      server = IodineSpec::Server.new(cmd, port: port)
      begin
        server.start(ready_timeout: 30)
        res = get(port, "/")
        expect(res.code).to eq("200")
        expect(res.body).to start_with("rails 6.")
        expect(server.output).to include("Iodine").and include("Listening on http://127.0.0.1:#{port}")
      ensure
        server.cleanup
      end
      expect(server.status&.success?).to be(true)
    end
  end
end
