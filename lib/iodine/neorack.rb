module Iodine
  # NeoRack: apps that answer HTTP with on_http(event) instead of call(env),
  # and decide upgrades with on_authenticate*. The adapter turns them into a
  # Rack app for the server, so both kinds share one request path. A plain
  # Rack app is served as it is.
  module NeoRack
    UPGRADE_CALLBACKS = %i[on_open on_message].freeze

    # What the server should call for this handler.
    def self.adapt(app)
      return Adapter.new(app) if app.respond_to?(:on_http)
      return SelfUpgrading.new(app) if app.respond_to?(:call) && UPGRADE_CALLBACKS.any? { |m| app.respond_to?(m) }
      return app if app.respond_to?(:call)
      raise ArgumentError, "#{app.inspect} is neither a Rack app (call) nor a NeoRack app (on_http)"
    end

    # Whether app takes this upgrade: on_authenticate_websocket/_sse, then
    # on_authenticate; true when it has none but does have on_open/on_message.
    def self.authenticate(app, kind, event)
      specific = :"on_authenticate_#{kind}"
      return app.public_send(specific, event) ? true : false if app.respond_to?(specific)
      return app.on_authenticate(event) ? true : false if app.respond_to?(:on_authenticate)
      UPGRADE_CALLBACKS.any? { |m| app.respond_to?(m) }
    end

    # A Rack app that also has on_open/on_message is its own handler when its
    # call accepted the request without naming another.
    class SelfUpgrading
      def initialize(app)
        @app = app
      end

      def call(env)
        response = @app.call(env)
        kind = env["rack.upgrade?"]
        if kind && !env.key?("rack.upgrade") && response.is_a?(Array) && response[0].to_i < 300 &&
           NeoRack.authenticate(@app, kind, Connection.http_event(env))
          env["rack.upgrade"] = @app
        end
        response
      end
    end

    # Serves a NeoRack app (on_http) through the Rack path.
    class Adapter
      def initialize(app)
        @app = app
      end

      def call(env)
        event = Connection.http_event(env)
        kind = env["rack.upgrade?"]
        if kind && NeoRack.authenticate(@app, kind, event)
          env["rack.upgrade"] = @app
          return [200, {}, []]
        end
        @app.on_http(event)
        status, headers, body = event.rack_response
        if @app.respond_to?(:on_finish)
          body = (body.respond_to?(:to_ary) ? FinishingArrayBody : FinishingBody).new(body, @app, event)
        end
        [status, headers, body]
      end
    end

    # Calls the app's on_finish(event) once the response was sent (the
    # server closes a body after its last byte went out).
    class FinishingBody
      def initialize(body, app, event)
        @body = body
        @app = app
        @event = event
      end

      def each(&block)
        @body.each(&block)
      end

      def close
        @app.on_finish(@event)
      end
    end

    # The same for an Array body, which the server sends in one piece.
    class FinishingArrayBody < FinishingBody
      def to_ary
        @body.to_ary
      end
    end
  end

  # The NeoRack HTTP event: the request (method, path, headers, body) and
  # the response being built (status=, write_header, write, finish).
  class Connection
    def self.http_event(env)
      conn = allocate
      conn.send(:setup_http, env)
      conn
    end

    def method(*args)
      return super unless args.empty? && @protocol == :http
      @env["REQUEST_METHOD"]
    end

    def path
      @env["PATH_INFO"]
    end

    def query
      @env["QUERY_STRING"]
    end

    def version
      @env["SERVER_PROTOCOL"]
    end

    # The client's address, as a proxy reports it if one does.
    def from
      forwarded = @env["HTTP_X_FORWARDED_FOR"]
      forwarded ? forwarded.split(",").first.strip : peer_addr
    end

    # Request headers with lower-case names.
    def headers
      @headers ||= @env.each_with_object({}) do |(k, v), h|
        if k.start_with?("HTTP_") && k != "HTTP_VERSION" # HTTP_VERSION is the server's, not a header
          h[k[5..].downcase.tr("_", "-")] = v
        elsif %w[CONTENT_TYPE CONTENT_LENGTH].include?(k)
          h[k.downcase.tr("_", "-")] = v
        end
      end
    end

    def gets
      @env["rack.input"].gets
    end

    def read(*args)
      @env["rack.input"].read(*args)
    end

    def status=(code)
      @status = Integer(code)
    end

    attr_reader :status

    def write_header(name, value)
      raise Iodine::Error, "the response was already finished" if @finished
      name = name.to_s.downcase
      @response_headers[name] = @response_headers.key?(name) ? "#{@response_headers[name]}\n#{value}" : value.to_s
      true
    end

    def finish(body = nil)
      write(body) if body
      @finished = true
      nil
    end

    def finished?
      @finished
    end

    def rack_hijack
      @env["rack.hijack"].call
    end

    # After on_http: an unfinished response is finished with what was
    # written so far.
    def rack_response
      [@status, @response_headers, @body]
    end

    private

    def setup_http(env)
      @id = 0 # no connection of its own in Go
      @env = env
      @protocol = :http
      @status = 200
      @response_headers = {}
      @body = []
      @finished = false
    end

    # HTTP events buffer writes until on_http returns.
    def http_write(data)
      raise Iodine::Error, "the response was already finished" if @finished
      @body << data.to_s
      true
    end
  end
end
