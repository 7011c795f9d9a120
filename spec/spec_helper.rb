# frozen_string_literal: true

# Integration tests: every example talks to a real server process (exe/iodine
# or a plain Ruby script calling Iodine.start) over real sockets on a port
# picked by binding port 0 on 127.0.0.1.

require "net/http"
require "json"
require "digest"
require "securerandom"
require "tmpdir"
require "fileutils"

Dir[File.join(__dir__, "support", "*.rb")].sort.each { |f| require f }

module IodineSpec
  # Helpers mixed into every example group.
  module Helpers
    def free_port
      IodineSpec.free_port
    end

    def fixture(name)
      IodineSpec.fixture(name)
    end

    def wait_until(**opts, &block)
      IodineSpec.wait_until(**opts, &block)
    end

    def now
      IodineSpec.now
    end

    # Net::HTTP with short timeouts; returns Net::HTTPResponse.
    def http(port, method, path, body: nil, headers: {}, timeout: 10)
      Net::HTTP.start("127.0.0.1", port, open_timeout: timeout, read_timeout: timeout,
                                         write_timeout: timeout) do |h|
        req = Net::HTTP.const_get(method.to_s.capitalize).new(path, headers)
        req.body = body if body
        h.request(req)
      end
    end

    def get(port, path, headers: {}, timeout: 10)
      http(port, :get, path, headers: headers, timeout: timeout)
    end

    def post(port, path, body, headers: {}, timeout: 10)
      http(port, :post, path, body: body, headers: headers, timeout: timeout)
    end

    def raw_client(port, timeout: 5, &block)
      IodineSpec::RawClient.open(port, timeout: timeout, &block)
    end

    # Starts a server for the block and always stops it.
    def with_server(app, **opts)
      server = IodineSpec::Server.launch(app, **opts)
      yield server
    ensure
      server&.cleanup
    end
  end
end

module IodineSpec
  # For example groups: `serve_fixture "app.ru", threads: 2` boots the fixture once for the group
  # (in @server, its port in @port), stops it afterwards and shows its log when an example fails.
  module GroupHelpers
    def serve_fixture(app, **options)
      before(:context) do
        @server = IodineSpec::Server.launch(app, **options)
        @port = @server.port
      end

      after(:context) { @server&.cleanup }

      after(:each) do |example|
        warn @server.output if example.exception && @server
      end
    end
  end
end

# The flood tests hold 10,000 sockets: raise the soft descriptor limit to
# the hard one (servers spawned from here inherit it).
soft, hard = Process.getrlimit(:NOFILE)
Process.setrlimit(:NOFILE, [hard, 65_536].min, hard) if soft < [hard, 65_536].min

RSpec.configure do |config|
  config.include IodineSpec::Helpers
  config.extend IodineSpec::GroupHelpers
  config.disable_monkey_patching!
  config.expect_with(:rspec) { |c| c.syntax = :expect }
  config.order = :defined

  # A runaway example must not hang the suite: every example is bounded.
  config.around(:each) do |example|
    limit = example.metadata[:timeout] || 60
    Timeout.timeout(limit, IodineSpec::ExampleTimeout) { example.run }
  end
end

module IodineSpec
  class ExampleTimeout < StandardError; end
end
