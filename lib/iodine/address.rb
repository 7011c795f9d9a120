require "uri"

module Iodine
  # Urls and addresses, read the same way by Iodine.listen (listener.rb) and
  # the clients (client.rb): one parser and one scheme table.
  module Address
    # A url scheme, or a service: name, => the protocol it names. "unix" names
    # only the transport (a Unix socket): Iodine.listen serves HTTP on it, a
    # client talks raw bytes over it.
    SERVICES = {
      "http" => :http, "https" => :http,
      "ws" => :websocket, "wss" => :websocket, "websocket" => :websocket,
      "sse" => :sse, "sses" => :sse,
      "tcp" => :raw, "raw" => :raw,
      "unix" => nil
    }.freeze

    # scheme: downcased, nil for a bare socket path; host: without brackets,
    # "" for none; port: an Integer (http and ws urls have a default) or nil;
    # unix: the socket's path, nil for TCP; uri: the parsed url (TCP only).
    Target = Struct.new(:scheme, :host, :port, :unix, :uri, keyword_init: true) do
      def unix?
        !unix.nil?
      end
    end

    module_function

    # A leading / or ./ is a Unix socket, as for the CLI's -b.
    def unix_path?(address)
      address.is_a?(String) && address.start_with?("/", "./")
    end

    # The protocol a scheme or service name stands for (:http, :websocket,
    # :sse, :raw); nil for "unix" and for names not in SERVICES.
    def service(name)
      SERVICES[name.to_s.downcase]
    end

    def known?(name)
      SERVICES.key?(name.to_s.downcase)
    end

    # Reads "scheme://host:port/path" (IPv6 hosts in brackets), a Unix socket
    # as "unix:///abs.sock", "unix://./relative.sock", "unix:path" or a bare
    # "/abs.sock" / "./relative.sock", and iodine 0.7's "raw://:0/abs.sock"
    # (no host and no port: the path is a Unix socket). default_scheme is
    # put before a url that has none ("127.0.0.1:3000").
    def parse(url, default_scheme: nil)
      url = url.to_s
      return Target.new(host: "", unix: url) if unix_path?(url)
      if (m = %r{\Aunix:(?://)?(.+)\z}im.match(url))
        return Target.new(scheme: "unix", host: "", unix: m[1])
      end

      url = "#{default_scheme}://#{url}" if default_scheme && !url.include?("://")
      uri = URI.parse(url)
      scheme = uri.scheme&.downcase
      authority = url[%r{\A[^:/?#]+://([^/?#]*)}, 1]
      if authority&.match?(/\A:?0*\z/) && uri.path.to_s.length > 1
        return Target.new(scheme: scheme, host: "", unix: URI::DEFAULT_PARSER.unescape(uri.path))
      end

      Target.new(scheme: scheme, host: uri.host.to_s.delete_prefix("[").delete_suffix("]"), port: uri.port, uri: uri)
    end

    # "scheme://host:port" (an IPv6 host in brackets, no port when nil), or
    # "unix://path" for a Unix socket path.
    def url(scheme, host, port = nil)
      host = host.to_s
      return "unix://#{escape_path(host)}" if unix_path?(host)

      host = "[#{host}]" if host.include?(":") && !host.start_with?("[")
      "#{scheme}://#{host}#{":#{port}" if port}"
    end

    # A socket path as a url path: what would end or confuse it, escaped.
    def escape_path(path)
      path.to_s.b.gsub(%r{[^A-Za-z0-9._~/+=,@-]}n) { |c| format("%%%02X", c.ord) }
    end
  end
end
