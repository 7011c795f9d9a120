require_relative "address"
require_relative "listener_settings"

module Iodine
  # One Iodine.listen: where to listen, what serves it and its limits.
  # Validation happens here, in plain Ruby, so mistakes fail before the
  # server starts.
  class Listener
    DEFAULTS = ListenerSettings::DEFAULTS

    attr_reader :address, :port, :options, :socket
    attr_accessor :bound_port

    # loader: a callable that builds the handler later, in the process that
    # serves (a cluster loads the app in each worker, after the fork).
    def initialize(url: nil, address: nil, port: nil, handler: nil, loader: nil, service: nil, public: nil,
                   log: false, max_body: nil, max_headers: nil, max_line: nil, max_header_count: nil,
                   timeout: nil, max_msg: nil, ping: nil, max_age: nil, **rest, &block)
      @handler = handler || block
      @loader = loader
      raise ArgumentError, "Iodine.listen needs a handler: (handler: app) or a block" unless @handler || @loader
      scheme, address, port, @unix = parse_url(url, address, port)
      @service = listen_service(service || scheme)
      @address = address.to_s
      @port = @unix ? 0 : parse_port(port)
      @options = {
        public: public, log: log,
        max_body: setting(:max_body, max_body),
        max_headers: setting(:max_headers, max_headers),
        max_line: setting(:max_line, max_line),
        max_header_count: setting(:max_header_count, max_header_count),
        timeout: setting(:timeout, timeout),
        max_msg: setting(:max_msg, max_msg),
        ping: setting(:ping, ping),
        max_age: setting(:max_age, max_age)
      }.merge(rest)
    end

    # A size or time setting (Iodine.listen's, and the clients' ping:,
    # timeout: and max_msg:): a positive number.
    def self.positive(name, value)
      unless value.is_a?(Numeric) && value.positive?
        raise ArgumentError,
              "#{name} must be a positive number, got #{value.inspect}"
      end
      value
    end

    def unix?
      @unix
    end

    # A raw TCP service: the handler is not a Rack app.
    def raw?
      @service == :raw
    end

    # The app (or handler), loaded now if it was given as a loader.
    def handler
      @handler ||= @loader.call
    end

    def loaded?
      !@handler.nil?
    end

    # Cluster master: binds the socket every worker will accept from, so a
    # taken port fails at once and no connection is lost when a worker goes.
    def bind_socket
      @socket = @unix ? bind_unix : bind_tcp
      @bound_port = @socket.local_address.ip_port unless @unix
      @socket
    rescue SystemCallError, SocketError => e
      raise Iodine::Error, "can't listen on #{self}: #{e.message}"
    end

    def close_socket
      return unless @socket
      @socket.close unless @socket.closed?
      File.unlink(@address) if @unix && File.socket?(@address)
      @socket = nil
    rescue SystemCallError
      nil
    end

    # "http://127.0.0.1:3000" or a Unix socket's path.
    def to_s
      return "unix:#{@address}" if @unix
      Address.url(raw? ? "tcp" : "http", @address.empty? ? "0.0.0.0" : @address, bound_port || @port)
    end

    # Every setting the C glue hands to Go, in bytes and seconds.
    def core_options
      o = @options
      { address: @address, port: @port, unix: @unix, fd: @socket ? @socket.fileno : -1,
        public: o[:public] ? File.expand_path(o[:public].to_s) : "", log: o[:log] ? true : false, raw: raw?,
        **ListenerSettings.core(o) }
    end

    private

    def bind_unix
      File.unlink(@address) if File.socket?(@address) # left by a dead process
      UNIXServer.new(@address).tap { |s| s.listen(1024) }
    end

    # No address: every interface, IPv6 and IPv4 on one socket where the
    # system has IPv6.
    def bind_tcp
      server = if @address.empty?
                 begin
                   TCPServer.new("::", @port)
                 rescue SystemCallError, SocketError
                   TCPServer.new("0.0.0.0", @port)
                 end
               else
                 TCPServer.new(@address, @port)
               end
      server.listen(1024)
      server
    end

    # [scheme, address, port, unix?]
    def parse_url(url, address, port)
      if url.nil?
        address ||= ENV["ADDRESS"]
        return [nil, address, port || ENV["PORT"] || 3000, Address.unix_path?(address.to_s)]
      end
      target = Address.parse(url, default_scheme: "http")
      return [target.scheme, target.unix, 0, true] if target.unix?
      [target.scheme, target.host, target.port || port || 3000, false]
    rescue URI::InvalidURIError => e
      raise ArgumentError, "invalid listen url #{url.inspect}: #{e.message}"
    end

    # HTTP (WebSocket and SSE are upgrades of it) or raw TCP; a url without a
    # scheme, or a unix:// one, serves HTTP.
    def listen_service(name)
      return :http if name.nil?
      service = Address.service(name)
      return :http if Address.known?(name) && service != :raw
      return :raw if service == :raw
      raise Iodine::Error, "service #{name.to_s.to_sym.inspect} is not supported yet (only :http and :raw)"
    end

    def parse_port(port)
      n = Integer(port.to_s, 10)
      raise ArgumentError unless (0..65_535).cover?(n)
      n
    rescue ArgumentError, TypeError
      raise ArgumentError, "invalid port #{port.inspect} (0..65535)"
    end

    # max_age: 0 (no caching) is a choice; the limits must be positive.
    def setting(name, value)
      value ||= DEFAULTS[name]
      return Listener.positive(name, value) unless name == :max_age
      raise ArgumentError, "max_age must be 0 or more seconds, got #{value.inspect}" unless value.is_a?(Integer) && value >= 0

      value
    end
  end
end
