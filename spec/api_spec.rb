# frozen_string_literal: true

require "spec_helper"

# Issue 2, points 1 and 4: the Ruby API from a plain script
# (Iodine.listen / Iodine.start / Iodine.stop / Iodine.threads=), and Go
# loaded only when the server starts.
RSpec.describe "Iodine API from a plain Ruby script" do
  def script
    IodineSpec.fixture("api_script.rb")
  end

  def script_server(mode, port = free_port)
    cmd = [IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), script, mode, port.to_s]
    @server = IodineSpec::Server.new(cmd, port: port)
    @server.start
  end

  after(:each) do |example|
    warn @server.output if example.exception && @server
    @server&.cleanup
    @server = nil
  end

  it "require \"iodine\" starts no Go runtime" do
    out, err, status = IodineSpec.run_ruby(
      'require "iodine"; print File.read("/proc/self/maps").include?("libiodine_go"), " ", ' \
      'File.read("/proc/self/status")[/^Threads:\s+(\d+)/, 1]',
      timeout: 20
    )
    expect(status&.success?).to be(true), err
    loaded, os_threads = out.split
    expect(loaded).to eq("false")
    # A Go runtime would have started several OS threads.
    expect(os_threads.to_i).to be <= 2
  end

  it "serves through Iodine.listen(address:, port:, handler:) and Iodine.start, then stops on Iodine.stop" do
    script_server("handler")
    port = @server.port
    expect(get(port, "/").body).to eq("api handler")
    expect(get(port, "/threads").body).to eq("3")
    expect(get(port, "/maps").body).to eq("true")
    expect(@server.stdout).to include("GO LOADED AFTER REQUIRE: false")
    expect(@server.stdout).to include("ON_START HOOK")
    expect(get(port, "/running").body).to start_with("true")

    res = get(port, "/stop")
    expect(res.code).to eq("200")
    expect(res.body).to eq("stopping")
    status = @server.wait(timeout: 10)
    expect(status).not_to be_nil
    expect(status.exitstatus).to eq(0)
    expect(@server.stdout).to include("START RETURNED nil")
    expect(@server.stdout).to include("ON_FINISH HOOK")
  end

  it "runs Iodine.threads = 3 Ruby threads" do
    script_server("handler")
    port = @server.port
    started = now
    ids = Array.new(3) { Thread.new { get(port, "/sleep").body } }.map(&:value)
    expect(now - started).to be < 1.8
    expect(ids.uniq.size).to eq(3)
  end

  it "serves through Iodine.listen(url:) { |env| } and stops gracefully on SIGTERM" do
    script_server("block")
    expect(get(@server.port, "/").body).to eq("api block")
    status = @server.stop
    expect(status&.exitstatus).to eq(0)
    expect(@server.killed?).to be(false)
    expect(@server.stdout).to include("START RETURNED nil")
  end

  it "raises Iodine::Error with a clear message when the port is taken" do
    holder = TCPServer.new("127.0.0.1", 0)
    port = holder.addr[1]
    out, err, status = IodineSpec.run_command(
      {}, IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), script, "taken", port.to_s, timeout: 20
    )
    expect(status).not_to be_nil, "Iodine.start blocked on a taken port: #{out}#{err}"
    expect(status.exitstatus).to eq(3), "#{out}#{err}"
    expect(out).to match(/IODINE ERROR: .*#{port}/)
  ensure
    holder&.close
  end

  it "raises ArgumentError for a bad listen value" do
    out, err, status = IodineSpec.run_command(
      {}, IodineSpec::RUBY, "-I", File.join(IodineSpec::ROOT, "lib"), script, "badarg", free_port.to_s,
      timeout: 20
    )
    expect(status&.exitstatus).to eq(5), "#{out}#{err}"
    expect(out).to include("ARGUMENT ERROR:")
  end
end
