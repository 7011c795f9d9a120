require "uri"

module Iodine
  # Clients: Iodine::Connection.new(url, handler:) (iodine 0.8) and
  # Iodine.connect(url:, handler:) (0.7) dial a WebSocket (ws://, wss://), an
  # SSE stream (sse://, sses://, http://, https://) or raw TCP (tcp://,
  # unix://). Go dials in the background; the handler gets the same
  # callbacks as a server connection: on_open once connected, on_message,
  # on_eventsource(conn, message) for SSE, on_close last, or alone when the
  # connection fails. A client made before Iodine.start connects when the
  # server starts (in a cluster, in each worker).
  class Connection
    SCHEMES = { "ws" => :websocket, "wss" => :websocket, "sse" => :sse, "sses" => :sse, "http" => :sse,
                "https" => :sse, "tcp" => :raw, "unix" => :raw }.freeze
    SERVICES = { websocket: :websocket, ws: :websocket, wss: :websocket, sse: :sse, raw: :raw, tcp: :raw }.freeze
    KINDS = { websocket: 1, sse: 2, raw: 3 }.freeze # enum iodine_client_kind
    private_constant :SCHEMES, :SERVICES, :KINDS

    # Clients waiting for the server to start.
    @waiting = []

    class << self
      # Iodine::Connection.new(url, handler:, headers: {}, ping: 40, timeout: 40, service: nil)
      # ping: WebSocket ping interval; timeout: raw TCP seconds before on_timeout.
      def new(url = nil, handler: nil, headers: nil, ping: nil, timeout: nil, service: nil, max_msg: nil, tls: nil)
        raise ArgumentError, "a client needs a handler: Iodine::Connection.new(url, handler: obj)" if handler.nil?
        raise Iodine::Error, "tls: is not supported yet (wss:// and https:// use the system's certificates)" if tls

        protocol, go_url = client_target(url.to_s, service)
        defaults = Listener::DEFAULTS
        idle = protocol == :raw ? (timeout || defaults[:timeout]) : (ping || defaults[:ping])
        spec = { kind: KINDS.fetch(protocol), url: go_url, headers: header_lines(headers), idle: Integer(idle),
                 max_msg: Integer((max_msg || defaults[:max_msg]) * 1024) }
        conn = allocate
        conn.send(:setup, 0, handler, nil, protocol)
        conn.instance_variable_set(:@peer, URI.parse(go_url).host)
        Iodine.running? ? dial(conn, spec) : @waiting << [conn, spec]
        conn
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

      # [protocol, the url Go dials]
      def client_target(url, service)
        uri = URI.parse(url)
        scheme = uri.scheme.to_s.downcase
        protocol = service ? SERVICES[service.to_sym] : SCHEMES[scheme]
        raise ArgumentError, "service #{service.inspect} is not a client service (:websocket, :sse, :raw)" if service && !protocol
        unless protocol && (uri.host || scheme == "unix")
          raise ArgumentError, "can't connect to #{url.inspect}: use ws://, wss://, sse://, http(s)://, tcp:// or unix://"
        end

        uri.scheme = { "sse" => "http", "sses" => "https" }.fetch(scheme, scheme)
        if protocol == :websocket && !%w[ws wss].include?(uri.scheme)
          uri.scheme = uri.scheme == "https" ? "wss" : "ws"
        elsif protocol == :sse && !%w[http https].include?(uri.scheme)
          uri.scheme = uri.scheme == "wss" ? "https" : "http"
        end
        [protocol, uri.to_s]
      rescue URI::InvalidURIError => e
        raise ArgumentError, "invalid url #{url.inspect}: #{e.message}"
      end

      def header_lines(headers)
        (headers || {}).map do |name, value|
          raise ArgumentError, "header #{name.inspect} has a line break" if "#{name}#{value}".match?(/[\r\n]/)
          "#{name}: #{value}\n"
        end.join
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

  # iodine 0.7's client call: Iodine.connect(url:, handler:, ...).
  def self.connect(url: nil, handler: nil, address: "127.0.0.1", port: 3000, service: nil, **options)
    url ||= "#{service || :tcp}://#{address}:#{port}"
    Connection.new(url, handler: handler, service: service, **options)
  end
end
