require_relative "address"

module Iodine
  # Clients: Iodine::Connection.new(url, handler:) (iodine 0.8) and
  # Iodine.connect(url:, handler:) (0.7) dial a WebSocket (ws://, wss://), an
  # SSE stream (sse://, sses://, http://, https://) or raw TCP (tcp://,
  # raw://, unix://). Go dials in the background; the handler gets the same
  # callbacks as a server connection: on_open once connected, on_message,
  # on_eventsource(conn, message) for SSE, on_close last, or alone when the
  # connection fails. A client made before Iodine.start connects when the
  # server starts (in a cluster, in each worker).
  class Connection
    KINDS = { websocket: Base::CLIENT_WEBSOCKET, sse: Base::CLIENT_SSE, raw: Base::CLIENT_RAW }.freeze
    # Settings iodine 0.7's Iodine.connect or 0.8's Connection.new take that
    # mean nothing to these clients (an HTTP request's method and body, server
    # limits): accepted, and ignored with a warning.
    IGNORED = %i[method body log public max_body max_headers max_clients max_age max_header_size max_line_len
                 max_body_size max_msg_size].freeze
    # The longest Unix socket path (sun_path, with its NUL).
    UNIX_PATH_MAX = 107
    private_constant :KINDS, :IGNORED, :UNIX_PATH_MAX

    # Clients waiting for the server to start.
    @waiting = []

    class << self
      # Iodine::Connection.new(url, handler:, headers: {}, cookies: {}, ping: 40, timeout: 40, service: nil)
      # ping: WebSocket ping interval; timeout: raw TCP seconds before
      # on_timeout (ping: stands for it when alone, as in iodine 0.7);
      # path: replaces the url's path when it has none (0.7's Iodine.connect).
      def new(url = nil, handler: nil, headers: nil, cookies: nil, path: nil, ping: nil, timeout: nil, service: nil,
              max_msg: nil, tls: nil, **ignored)
        check_ignored(ignored)
        raise ArgumentError, "a client needs a handler: Iodine::Connection.new(url, handler: obj)" if handler.nil?
        raise Iodine::Error, "tls: is not supported yet (wss:// and https:// use the system's certificates)" if tls

        protocol, go_url, peer = client_target(url.to_s, service, path)
        ping &&= Listener.positive(:ping, ping)
        timeout &&= Listener.positive(:timeout, timeout)
        defaults = ListenerSettings::DEFAULTS
        idle = protocol == :raw ? timeout || ping || defaults[:timeout] : ping || defaults[:ping]
        max_msg = Listener.positive(:max_msg, max_msg || defaults[:max_msg])
        spec = { kind: KINDS.fetch(protocol), url: go_url, headers: header_lines(headers, cookies),
                 idle: idle.ceil, max_msg: (max_msg * 1024).to_i }
        conn = allocate
        conn.send(:setup, 0, handler, nil, protocol)
        conn.instance_variable_set(:@peer, peer)
        Iodine.running? ? dial(conn, spec) : @waiting << [conn, spec]
        conn
      end

      # Iodine.connect's settings (iodine 0.7): url:, or address:, port: and
      # service:; the rest as for new.
      def connect(url: nil, handler: nil, app: nil, address: nil, port: nil, service: nil, **options)
        if handler.nil? && app
          warn_once(:app, ":app is deprecated in Iodine.connect; use :handler")
          handler = app
        end
        url ||= address_url(address, port, service)
        new(url, handler: handler, service: service, **options)
      end

      def clients_waiting?
        !@waiting.empty?
      end

      # The server started: dial the clients made before.
      def start_clients
        waiting = @waiting
        @waiting = []
        waiting.each { |conn, spec| dial(conn, spec) }
      end

      private

      def dial(conn, spec)
        id = Base.conn_new_id
        conn.instance_variable_set(:@id, id)
        @open[id] = conn # before any event can arrive
        Base.connect(id, spec[:kind], spec[:url], spec[:headers], spec[:idle], spec[:max_msg])
      end

      # [protocol, the url Go dials, the peer's address]
      def client_target(url, service, path)
        target = Address.parse(url)
        protocol = client_protocol(service || target.scheme)
        raise ArgumentError, "service #{service.inspect} is not a client service (:websocket, :sse, :raw)" if service && !protocol
        if target.unix?
          if protocol != :raw
            raise ArgumentError,
                  "#{url.inspect} is a Unix socket: only a raw client (service: :raw) can use one"
          end
          return [protocol, unix_url(target.unix), target.unix]
        end
        if !protocol || target.host.empty?
          raise ArgumentError, "can't connect to #{url.inspect}: use ws://, wss://, sse://, http(s)://, tcp:// or unix://"
        end

        [protocol, tcp_url(protocol, target, path), target.host]
      rescue URI::Error => e
        raise ArgumentError, "invalid url #{url.inspect}: #{e.message}"
      end

      # What a scheme or service: name means for a client: an http(s) url is
      # an SSE stream, a Unix socket (or no scheme, a bare path) raw bytes.
      def client_protocol(name)
        return :raw if name.nil? || name.to_s.casecmp?("unix")
        protocol = Address.service(name)
        protocol == :http ? :sse : protocol
      end

      def tcp_url(protocol, target, path)
        uri = target.uri
        secure = %w[https wss sses].include?(target.scheme)
        if protocol == :raw
          raise ArgumentError, "#{uri} has no port: a raw TCP client needs one" unless uri.port
          return Address.url("tcp", target.host, uri.port)
        end

        uri.scheme = if protocol == :websocket
                       secure ? "wss" : "ws"
                     else
                       secure ? "https" : "http"
                     end
        add_path(uri, path) if path && uri.path.delete_prefix("/").empty? && uri.query.nil?
        uri.to_s
      end

      def add_path(uri, path)
        path, query = path.to_s.split("?", 2)
        uri.path = path.start_with?("/") ? path : "/#{path}"
        uri.query = query
      end

      # An absolute path, so that it means the same file whatever the working
      # directory, unless that makes it too long for a socket address.
      def unix_url(path)
        full = File.expand_path(path)
        "unix://#{Address.escape_path(full.bytesize <= UNIX_PATH_MAX ? full : path)}"
      end

      # iodine 0.7 builds the url from address: and port: when there is none.
      def address_url(address, port, service)
        address = (address || "127.0.0.1").to_s
        return Address.url(nil, address) if Address.unix_path?(address)

        scheme = service.nil? || client_protocol(service) == :raw ? "tcp" : service.to_s
        Address.url(scheme, address, port && Integer(port))
      rescue ArgumentError, TypeError
        raise ArgumentError, "invalid port #{port.inspect}"
      end

      # Known HTTP-only settings are ignored (with one warning); anything
      # else is a mistake.
      def check_ignored(options)
        return if options.empty?

        unknown = options.keys - IGNORED
        raise ArgumentError, "unknown keyword#{"s" if unknown.size > 1}: #{unknown.map(&:inspect).join(", ")}" if unknown.any?

        warn_once(:ignored, "client settings #{options.keys.map(&:inspect).join(", ")} don't apply to " \
                            "WebSocket, SSE or raw TCP clients: ignored")
      end

      def warn_once(key, message)
        @warned ||= {}
        return if @warned[key]

        @warned[key] = true
        $stderr.puts "WARNING: (iodine) #{message}" if Iodine.verbosity >= 3
      end

      def header_lines(headers, cookies)
        raise TypeError, "headers must be a Hash, got #{headers.inspect}" unless headers.nil? || headers.is_a?(Hash)

        lines = (headers || {}).flat_map { |name, value| Array(value).map { |v| [name.to_s, v.to_s] } }
        if (cookie = cookie_header(cookies))
          given, lines = lines.partition { |name, _| name.casecmp?("cookie") }
          lines << ["Cookie", [*given.map(&:last), cookie].join("; ")]
        end
        lines.map do |name, value|
          raise ArgumentError, "header #{name.inspect} has a line break" if "#{name}#{value}".match?(/[\r\n]/)
          "#{name}: #{value}\n"
        end.join
      end

      # cookies: { "name" => "value" } as a Cookie header (iodine 0.7 and 0.8).
      def cookie_header(cookies)
        raise TypeError, "cookies must be a Hash, got #{cookies.inspect}" unless cookies.nil? || cookies.is_a?(Hash)
        return nil if cookies.nil? || cookies.empty?

        cookies.map do |name, value|
          name = name.to_s
          value = value.to_s
          raise ArgumentError, "invalid cookie name #{name.inspect}" if name.empty? || name.match?(/[=;,\s]/)
          raise ArgumentError, "cookie #{name} has a ; or a line break in its value" if value.match?(/[;\r\n]/)
          "#{name}=#{value}"
        end.join("; ")
      end
    end

    private

    # An SSE client's event (see iodine.h IODINE_EV_SSE): on_eventsource with
    # a pub/sub message object (event name as channel/event, data as
    # message/data, id, published), or on_message with the data for a
    # handler that only has that.
    def eventsource(channel, data)
      id, event = channel.to_s.split("\n", 2)
      message = PubSub::Message.new(event.to_s, data.to_s, id.to_s, Time.now)
      if @handler.respond_to?(:on_eventsource)
        @handler.on_eventsource(self, message)
      elsif @handler.respond_to?(:on_message)
        @handler.on_message(self, message.data)
      end
    end
  end

  # iodine 0.7's client call: Iodine.connect(url:, handler:, ...), keywords
  # or one Hash of settings (url:, address:, port:, path:, service:, handler:,
  # headers:, cookies:, ping:, timeout:, max_msg:; HTTP-only ones ignored).
  def self.connect(settings = nil, **options)
    Connection.connect(**with_settings(:connect, settings, options))
  end
end
