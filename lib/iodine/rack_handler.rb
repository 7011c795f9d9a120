# frozen_string_literal: true

module Iodine
  # The Rack handler: what `rackup -s iodine`, `rails server iodine` and Rack::Handler.get(:iodine)
  # call. Registered as "iodine" with Rack 2's Rack::Handler and with rackup's Rackup::Handler.
  module Rack
    # rackup's option names (any case, Symbol or String) -> Iodine.listen / Iodine.* settings.
    OPTION_NAMES = {
      "host" => :address, "address" => :address, "port" => :port,
      "threads" => :threads, "workers" => :workers,
      "public" => :public, "log" => :log
    }.freeze

    class << self
      # Rack 2 calls run(app, **options); older callers pass a positional Hash. Blocks until stopped.
      def run(app, options = {}, **keywords)
        require "iodine"
        settings = normalize(options.merge(keywords))
        listen_settings = {
          handler: app, address: settings[:address],
          port: settings.fetch(:port) { default_port },
          public: settings[:public], log: settings[:log]
        }.compact
        Iodine.listen(**listen_settings)
        Iodine.threads = settings[:threads] if settings[:threads]
        Iodine.workers = settings[:workers] if settings[:workers]
        yield Iodine if block_given?
        Iodine.start
        true
      end

      # Shown by `rackup -s iodine -h`; these go through rackup's -O NAME=VALUE.
      def valid_options
        {
          "Host=HOST" => "Hostname or IP to listen on; a leading / or ./ is a Unix socket (default: all interfaces)",
          "Port=PORT" => "Port to listen on (default: $PORT or 3000)",
          "Threads=NUM" => "Ruby threads per process; negative = cores / abs(NUM) (default: auto)",
          "Workers=NUM" => "Processes; 0 = single process (default: 0)",
          "Public=DIR" => "Folder of static files to serve (default: none)",
          "Log" => "Log every request (default: off)"
        }
      end

      # Rack handlers may be asked to stop (Capybara, rackup's INT trap).
      def shutdown
        Iodine.stop if defined?(Iodine.stop)
      end

      # Idempotent; a no-op for whichever of Rack::Handler / Rackup::Handler is not loaded.
      def register
        # The leading "::" matters: Rack::Handler.get const_gets this name from inside
        # Rack::Handler, where plain "Iodine::Rack" would resolve to Rack::Handler::Iodine::Rack.
        handler_name = "::Iodine::Rack"
        [defined?(::Rackup::Handler) && ::Rackup::Handler,
         defined?(::Rack::Handler) && ::Rack::Handler].each do |registry|
          next unless registry.respond_to?(:register)

          registry.register("iodine", handler_name)
          registry.const_set(:Iodine, self) unless registry.const_defined?(:Iodine, false)
        end
        # As iodine 0.7 does: a config.ru that requires iodine makes a plain `rackup` pick it.
        ENV["RACKUP_HANDLER"] ||= "iodine" if defined?(::Rackup::Handler)
        ENV["RACK_HANDLER"] ||= "iodine" if defined?(::Rack::Handler)
        true
      end

      private

      def normalize(options)
        options.each_with_object({}) do |(name, value), settings|
          key = OPTION_NAMES[name.to_s.downcase]
          next if key.nil? || value.nil?

          settings[key] = case key
                          when :port, :threads, :workers then Integer(value.to_s, 10)
                          when :log then value != false && value.to_s != "false" && value.to_s != "0"
                          else value.to_s
                          end
        end
      end

      def default_port
        port = ENV["PORT"].to_s.strip
        port.empty? ? 3000 : Integer(port, 10)
      end
    end
  end
end

Iodine::Rack.register
