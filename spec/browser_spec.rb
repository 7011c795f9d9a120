# frozen_string_literal: true

require "spec_helper"
require "securerandom"
require "tempfile"
require "tmpdir"
require "fileutils"

# End to end in a real browser: headless Chromium loads a page from the
# server (spec/fixtures/browser/), the page opens an EventSource and a
# WebSocket, the WebSocket sends one message, the app publishes it to
# :broadcast (the README's "Using Rack for WebSocket/SSE" app) and both
# connections must get it back.
#
# The page reports its outcome by POSTing it to /result and the example polls
# GET /result: `--dump-dom` cannot wait for live connections (it prints the
# DOM at load, and with --virtual-time-budget an open EventSource holds
# virtual time, so it never prints). Every wait is bounded; Chromium is
# stopped by its process group afterwards.
#
# Skipped only when no Chromium is installed (bin/setup installs Debian's
# `chromium`); set CHROMIUM=/path/to/binary to pick one.
RSpec.describe "Browser end to end (headless Chromium: WebSocket + SSE broadcast)", timeout: 90 do
  CHROMIUM_NAMES = %w[chromium chromium-browser google-chrome-stable google-chrome].freeze

  # Root in a container: no sandbox (Chromium refuses to start as root with
  # it), no GPU, no /dev/shm (often 64 MB there), nothing fetched from outside.
  CHROMIUM_FLAGS = %w[
    --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage
    --no-first-run --no-default-browser-check --no-proxy-server
    --disable-extensions --disable-background-networking --disable-component-update
    --disable-sync --disable-default-apps --mute-audio --hide-scrollbars
    --window-size=800,600
  ].freeze

  # Seconds the example waits for the page's report; the page itself gives up
  # (and reports TIMEOUT with its log) after BROWSER_PAGE_LIMIT_MS.
  BROWSER_REPORT_TIMEOUT = 30
  BROWSER_PAGE_LIMIT_MS = 15_000

  def self.chromium_path
    from_env = ENV["CHROMIUM"].to_s
    return from_env if !from_env.empty? && File.executable?(from_env)

    dirs = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR)
    CHROMIUM_NAMES.each do |name|
      dirs.each do |dir|
        path = File.join(dir, name)
        return path if File.file?(path) && File.executable?(path)
      end
    end
    nil
  end

  before(:context) do
    @chromium = self.class.chromium_path
    skip "no Chromium installed (bin/setup installs Debian's `chromium`; or set CHROMIUM=/path)" unless @chromium

    @server = IodineSpec::Server.launch("browser/config.ru", threads: 2)
    @port = @server.port
  end

  after(:context) { @server&.cleanup }

  after(:each) do |example|
    next unless example.exception

    warn @server.output if @server
    warn "--- chromium (#{@chromium_command&.join(" ")}):\n#{@chromium_output}" if @chromium_output
  end

  # Starts Chromium on the page and polls GET /result until the page reported
  # on this `msg` (at most BROWSER_REPORT_TIMEOUT seconds). Returns the report (first
  # line: the outcome, then the page's log) or nil. Always stops Chromium.
  def browse(msg)
    profile = Dir.mktmpdir("iodine-chromium")
    out = Tempfile.new(["iodine-chromium", ".log"])
    url = "http://127.0.0.1:#{@port}/page?msg=#{msg}&limit=#{BROWSER_PAGE_LIMIT_MS}"
    @chromium_command = [@chromium, *CHROMIUM_FLAGS, "--user-data-dir=#{profile}", url]
    # HOME and the XDG folders in the temp folder too: nothing is left in the real home
    # (crash-report folders, dconf). Its own process group: stopping it reaches the
    # renderer and the other helpers too.
    env = { "HOME" => profile, "XDG_CONFIG_HOME" => File.join(profile, ".config"),
            "XDG_CACHE_HOME" => File.join(profile, ".cache"), "DBUS_SESSION_BUS_ADDRESS" => "disabled:" }
    pid = Process.spawn(env, *@chromium_command,
                        in: File::NULL, out: out.path, err: out.path, pgroup: true)
    exited = nil
    report = wait_until(timeout: BROWSER_REPORT_TIMEOUT, interval: 0.1) do
      exited ||= Process.waitpid2(pid, Process::WNOHANG)&.last
      body = begin
        res = get(@port, "/result", timeout: 2)
        res.body if res.code == "200"
      rescue StandardError
        nil
      end
      next body if body&.include?("|SENT:#{msg}|")
      raise "chromium exited early (#{exited.inspect}) without a report" if exited

      nil
    end
    report
  ensure
    stop_group(pid, exited) if pid
    @chromium_output = File.read(out.path).lines.last(60).join if out
    out&.close!
    FileUtils.rm_rf(profile) if profile
  end

  # TERM to Chromium's process group, then KILL when it lingers.
  def stop_group(pid, exited)
    [["TERM", 5], ["KILL", 5]].each do |signal, timeout|
      begin
        Process.kill(signal, -pid)
      rescue Errno::ESRCH, Errno::EPERM
        break
      end
      break if exited || IodineSpec.wait_pid(pid, timeout)
    end
  end

  it "shows a message a page's WebSocket sent arriving at that WebSocket and at its EventSource" do
    msg = "hello-from-browser-#{SecureRandom.hex(8)}"
    report = browse(msg)
    expect(report).not_to be_nil,
                          "the page sent no report about #{msg} within #{BROWSER_REPORT_TIMEOUT}s"

    outcome = report.lines.first.to_s.chomp
    fields = outcome.split("|").to_h { |f| f.split(":", 2).then { |k, v| [k, v.to_s] } }
    explain = -> { "page report:\n#{report}" }
    expect(fields["WS"]).to eq(msg), explain
    expect(fields["SSE"]).to eq(msg), explain
    expect(outcome).to eq("DONE|SENT:#{msg}|WS:#{msg}|SSE:#{msg}"), explain
  end
end
