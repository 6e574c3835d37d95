"""What the simulated fleet says: message patterns per service, with their variables and traces.

Each pattern is a template the way a developer wrote it (``"Reserved {qty} units of {sku}"``), a
canonical level and a weight. Variables come from the caller's ``random.Random`` so a seed gives the
same text; stack traces are fixed frames per pattern (real traces repeat the same frames), so that
the pattern miner has realistic, stable shapes to find. Some patterns carry personal data (emails,
client IPs, card endings, bearer tokens) on purpose: redaction needs something to redact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import TypeVar

Render = Callable[[Random], str]
T = TypeVar("T")

FIRST_NAMES = ("anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo", "ines", "jonas", "kim",
               "lena", "marc", "nora", "omar", "paula", "quinn", "rosa", "sam", "tara")
LAST_NAMES = ("schmidt", "meyer", "garcia", "smith", "nguyen", "rossi", "kowalski", "dubois", "jensen",
              "silva", "murphy", "novak", "tanaka", "ali", "berg")
MAIL_DOMAINS = ("example.com", "mail.example.org", "shop-customer.net", "example.de")
WAREHOUSES = ("WH-1", "WH-2", "WH-3", "WH-4")
CURRENCIES = ("EUR", "USD", "GBP")
PROVIDERS = ("stripe", "adyen", "paypal")


def ri(rng: Random, low: int, high: int) -> int:
    """``rng.randint`` at a third of the cost (one C call): it runs millions of times per day."""
    return low + int(rng.random() * (high - low + 1))


def pick(rng: Random, options: Sequence[T]) -> T:
    """``rng.choice`` the same cheap way."""
    return options[int(rng.random() * len(options))]


def hex_id(rng: Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def uuid_text(rng: Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def email(rng: Random) -> str:
    return f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{ri(rng, 1, 99)}@{rng.choice(MAIL_DOMAINS)}"


def client_ip(rng: Random) -> str:
    return f"{ri(rng, 23, 213)}.{ri(rng, 0, 255)}.{ri(rng, 0, 255)}.{ri(rng, 1, 254)}"


def private_ip(rng: Random) -> str:
    return f"10.0.{ri(rng, 0, 15)}.{ri(rng, 2, 254)}"


def order_id(rng: Random) -> int:
    return ri(rng, 1_000_000, 9_999_999)


def sku(rng: Random) -> str:
    return f"SKU-{ri(rng, 10000, 99999)}"


def amount(rng: Random) -> str:
    return f"{ri(rng, 5, 900)}.{ri(rng, 0, 99):02d}"


def duration_ms(rng: Random, typical: float = 40.0) -> int:
    return max(1, int(rng.lognormvariate(0.0, 0.7) * typical))


def bearer(rng: Random) -> str:
    return f"eyJhbGciOiJIUzI1NiJ9.{hex_id(rng, 24)}.{hex_id(rng, 16)}"


@dataclass(frozen=True)
class Pattern:
    """One kind of log line of one service."""

    key: str
    level: str  # canonical: TRACE DEBUG INFO WARN ERROR FATAL
    weight: float
    render: Render
    # The template with variables as <*>: what a pattern miner should find.
    template: str
    error_type: str | None = None
    # Frames of the stack trace printed after the exception line (runtime-specific text).
    frames: tuple[str, ...] = ()
    # Extra exception text after the frames (a Java "Caused by:" block, a Python chained traceback).
    caused_by: str = ""
    # Where the app writes it: "log" (its logger, JSON or text) or "stderr" (raw runtime output).
    channel: str = "log"
    logger: str = ""
    steady: bool = True  # seen throughout the window (so never "new" to a detector)


@dataclass
class ServiceSpec:
    """One ECS service of the simulated cluster."""

    name: str
    runtime: str  # java, dotnet, python, go, nginx
    family_revision: int
    tasks: int
    per_day: int  # background records per day at rate 1 (request-driven ones come on top)
    patterns: list[Pattern] = field(default_factory=list)
    # container_name as Docker on EC2 names it (ecs-NAME-REV-hex) instead of the task-definition name
    docker_names: bool = False


# -- checkout: Java / Spring Boot, JSON logs (logstash encoder) -----------------------------------------

_SPRING_WEB = (
    "org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
    "org.springframework.web.servlet.FrameworkServlet.doPost(FrameworkServlet.java:914)",
    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:590)",
    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)",
    "org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)",
    "java.base/java.lang.Thread.run(Thread.java:1583)",
)

CHECKOUT = ServiceSpec("checkout", "java", 41, tasks=3, per_day=32_000, patterns=[
    Pattern("cart_loaded", "INFO", 30, lambda r: f"Loaded cart {uuid_text(r)} with {ri(r, 1, 9)} items in {duration_ms(r, 8)} ms",
            "Loaded cart <*> with <*> items in <*> ms", logger="com.shop.checkout.cart.CartService"),
    Pattern("price_calc", "DEBUG", 18, lambda r: f"Price calculation for cart {uuid_text(r)}: subtotal={amount(r)} tax={amount(r)} currency={pick(r, CURRENCIES)}",
            "Price calculation for cart <*>: subtotal=<*> tax=<*> currency=<*>", logger="com.shop.checkout.pricing.PriceCalculator"),
    Pattern("checkout_ok", "INFO", 14, lambda r: f"Checkout completed for order {order_id(r)} by {email(r)}: total {amount(r)} {pick(r, CURRENCIES)}",
            "Checkout completed for order <*> by <*>: total <*> <*>", logger="com.shop.checkout.CheckoutController"),
    Pattern("hikari", "DEBUG", 8, lambda r: f"HikariPool-1 - Pool stats (total={ri(r, 8, 10)}, active={ri(r, 0, 8)}, idle={ri(r, 0, 8)}, waiting=0)",
            "HikariPool-1 - Pool stats (total=<*>, active=<*>, idle=<*>, waiting=<*>)", logger="com.zaxxer.hikari.pool.HikariPool"),
    Pattern("auth_debug", "DEBUG", 1.5, lambda r: f"Forwarding request to payments with header Authorization: Bearer {bearer(r)}",
            "Forwarding request to payments with header Authorization: Bearer <*>", logger="com.shop.checkout.client.PaymentsClient"),
    Pattern("slow_call", "WARN", 3, lambda r: f"Slow call to payments: POST /v1/charges took {ri(r, 1500, 6000)} ms (threshold 1000 ms)",
            "Slow call to payments: POST /v1/charges took <*> ms (threshold <*> ms)", logger="com.shop.checkout.client.PaymentsClient"),
    Pattern("stock_conflict", "WARN", 2, lambda r: f"Stock reservation conflict for {sku(r)} in order {order_id(r)}, retrying ({ri(r, 1, 3)}/3)",
            "Stock reservation conflict for <*> in order <*>, retrying (<*>/3)", logger="com.shop.checkout.inventory.StockClient"),
    Pattern("redis_timeout", "ERROR", 0.6, lambda r: f"Redis command timed out after 2000 ms: GET cart:{uuid_text(r)}",
            "Redis command timed out after 2000 ms: GET cart:<*>", error_type="io.lettuce.core.RedisCommandTimeoutException",
            frames=("io.lettuce.core.internal.ExceptionFactory.createTimeoutException(ExceptionFactory.java:59)",
                    "io.lettuce.core.internal.Futures.awaitOrCancel(Futures.java:246)",
                    "io.lettuce.core.FutureSyncInvocationHandler.handleInvocation(FutureSyncInvocationHandler.java:75)",
                    "com.shop.checkout.cart.RedisCartRepository.find(RedisCartRepository.java:48)",
                    "com.shop.checkout.cart.CartService.load(CartService.java:71)", *_SPRING_WEB),
            logger="com.shop.checkout.cart.CartService"),
    Pattern("payment_declined", "ERROR", 0.8, lambda r: f"Payment declined for order {order_id(r)}: card ending {ri(r, 1000, 9999)} ({pick(r, ('insufficient_funds', 'expired_card', 'do_not_honor'))})",
            "Payment declined for order <*>: card ending <*> (<*>)", error_type="com.shop.checkout.payment.PaymentDeclinedException",
            frames=("com.shop.checkout.payment.PaymentsClient.charge(PaymentsClient.java:112)",
                    "com.shop.checkout.CheckoutService.placeOrder(CheckoutService.java:203)",
                    "com.shop.checkout.CheckoutController.checkout(CheckoutController.java:58)", *_SPRING_WEB),
            logger="com.shop.checkout.CheckoutService"),
])

# Appears only after the deploy of checkout:42: the pattern the detectors must find.
NEW_ERROR = Pattern(
    "promotion_npe", "ERROR", 0,
    lambda r: f"Failed to apply promotion PROMO-{ri(r, 1000, 9999)} to cart {uuid_text(r)}: discount tier is null",
    "Failed to apply promotion <*> to cart <*>: discount tier is null",
    error_type="java.lang.NullPointerException",
    frames=("com.shop.checkout.promotion.TieredDiscountRule.apply(TieredDiscountRule.java:37)",
            "com.shop.checkout.promotion.PromotionEngine.evaluate(PromotionEngine.java:92)",
            "com.shop.checkout.pricing.PriceCalculator.total(PriceCalculator.java:64)",
            "com.shop.checkout.CheckoutService.placeOrder(CheckoutService.java:188)", *_SPRING_WEB),
    logger="com.shop.checkout.promotion.PromotionEngine", steady=False)

CHECKOUT_OOM = Pattern(
    "jvm_oom", "FATAL", 0, lambda r: 'Exception in thread "http-nio-8080-exec-' + str(ri(r, 1, 200)) + '" java.lang.OutOfMemoryError: Java heap space',
    'Exception in thread <*> java.lang.OutOfMemoryError: Java heap space', error_type="java.lang.OutOfMemoryError",
    frames=("java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
            "java.base/java.lang.AbstractStringBuilder.ensureCapacityInternal(AbstractStringBuilder.java:228)",
            "com.fasterxml.jackson.core.util.TextBuffer.expand(TextBuffer.java:930)",
            "com.shop.checkout.export.OrderExport.write(OrderExport.java:77)"),
    channel="stderr", steady=False)

# -- payments: .NET, text logs (Serilog file format) ------------------------------------------------------

_DOTNET_HTTP = (
    "System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()",
    "Payments.Providers.ProviderClient.SendAsync(HttpRequestMessage request, CancellationToken ct) in /src/Payments/Providers/ProviderClient.cs:line 88",
    "Payments.Providers.ProviderClient.CaptureAsync(String chargeId, CancellationToken ct) in /src/Payments/Providers/ProviderClient.cs:line 142",
    "Payments.Api.CaptureHandler.Handle(CaptureCommand command, CancellationToken ct) in /src/Payments/Api/CaptureHandler.cs:line 51",
    "Microsoft.AspNetCore.Routing.EndpointMiddleware.<Invoke>g__AwaitRequestTask|7_0(Endpoint endpoint, Task requestTask, ILogger logger)",
)

PAYMENTS = ServiceSpec("payments", "dotnet", 8, tasks=2, per_day=16_000, docker_names=True, patterns=[
    Pattern("authorized", "INFO", 30, lambda r: f"Authorized payment pay_3{hex_id(r, 13)} for order {order_id(r)}: {amount(r)} {pick(r, CURRENCIES)} via {pick(r, PROVIDERS)}",
            "Authorized payment <*> for order <*>: <*> <*> via <*>", logger="Payments.Api.AuthorizeHandler"),
    Pattern("captured", "INFO", 22, lambda r: f"Captured charge ch_3{hex_id(r, 13)} in {duration_ms(r, 120)} ms",
            "Captured charge <*> in <*> ms", logger="Payments.Api.CaptureHandler"),
    Pattern("receipt", "INFO", 8, lambda r: f"Sent receipt for order {order_id(r)} to {email(r)}",
            "Sent receipt for order <*> to <*>", logger="Payments.Notifications.ReceiptSender"),
    Pattern("retry", "WARN", 3, lambda r: f"Retrying call to {pick(r, PROVIDERS)} after {pick(r, (200, 400, 800))} ms (attempt {ri(r, 2, 4)} of 4)",
            "Retrying call to <*> after <*> ms (attempt <*> of 4)", logger="Payments.Providers.ProviderClient"),
    Pattern("provider_503", "ERROR", 0.6, lambda r: f"Capture failed for charge ch_3{hex_id(r, 13)}: provider returned 503 Service Unavailable",
            "Capture failed for charge <*>: provider returned 503 Service Unavailable",
            error_type="System.Net.Http.HttpRequestException", frames=_DOTNET_HTTP, logger="Payments.Api.CaptureHandler"),
    Pattern("idempotency", "ERROR", 0.4, lambda r: f"Duplicate idempotency key {uuid_text(r)} for order {order_id(r)}",
            "Duplicate idempotency key <*> for order <*>", error_type="Payments.Domain.IdempotencyConflictException",
            frames=("Payments.Domain.ChargeRepository.InsertAsync(Charge charge) in /src/Payments/Domain/ChargeRepository.cs:line 63",
                    "Payments.Api.AuthorizeHandler.Handle(AuthorizeCommand command, CancellationToken ct) in /src/Payments/Api/AuthorizeHandler.cs:line 40"),
            logger="Payments.Api.AuthorizeHandler"),
])

PAYMENTS_CRASH = Pattern(
    "dotnet_oom", "FATAL", 0, lambda r: "Unhandled exception. System.OutOfMemoryException: Exception of type 'System.OutOfMemoryException' was thrown.",
    "Unhandled exception. System.OutOfMemoryException: Exception of type 'System.OutOfMemoryException' was thrown.",
    error_type="System.OutOfMemoryException",
    frames=("System.Text.StringBuilder.ExpandByABlock(Int32 minBlockCharCount)",
            "Payments.Reports.SettlementReport.Render() in /src/Payments/Reports/SettlementReport.cs:line 97",
            "Payments.Program.<Main>$(String[] args) in /src/Payments/Program.cs:line 31"),
    channel="stderr", steady=False)

# -- orders: Python, JSON logs ---------------------------------------------------------------------------

ORDERS = ServiceSpec("orders", "python", 17, tasks=2, per_day=24_000, patterns=[
    Pattern("created", "INFO", 30, lambda r: f"Order {order_id(r)} created for customer {email(r)} with {ri(r, 1, 12)} lines",
            "Order <*> created for customer <*> with <*> lines", logger="orders.api.views"),
    Pattern("status", "INFO", 25, lambda r: f"Order {order_id(r)} status changed from {pick(r, ('pending', 'paid'))} to {pick(r, ('paid', 'shipped', 'cancelled'))}",
            "Order <*> status changed from <*> to <*>", logger="orders.domain.state"),
    Pattern("sql", "DEBUG", 15, lambda r: f"SELECT orders took {duration_ms(r, 6)} ms rows={ri(r, 0, 50)}",
            "SELECT orders took <*> ms rows=<*>", logger="orders.db"),
    Pattern("shipping_slow", "WARN", 3, lambda r: f"Shipping quote from carrier {pick(r, ('dhl', 'ups', 'dpd'))} took {ri(r, 2000, 9000)} ms",
            "Shipping quote from carrier <*> took <*> ms", logger="orders.shipping"),
    Pattern("pool_exhausted", "ERROR", 0.5, lambda r: "QueuePool limit of size 10 overflow 20 reached, connection timed out, timeout 30.00",
            "QueuePool limit of size 10 overflow 20 reached, connection timed out, timeout 30.00",
            error_type="sqlalchemy.exc.TimeoutError",
            frames=('File "/app/orders/api/views.py", line 88, in get_order\n    order = repo.get(order_id)',
                    'File "/app/orders/db/repository.py", line 41, in get\n    with self.engine.connect() as conn:',
                    'File "/usr/local/lib/python3.12/site-packages/sqlalchemy/pool/impl.py", line 168, in _do_get\n    raise exc.TimeoutError('),
            logger="orders.api.views"),
    Pattern("validation", "ERROR", 0.7, lambda r: f"Invalid shipping address for order {order_id(r)}: postal code '{ri(r, 100, 99999)}' does not match country '{pick(r, ('DE', 'FR', 'US'))}'",
            "Invalid shipping address for order <*>: postal code <*> does not match country <*>",
            error_type="orders.domain.errors.ValidationError",
            frames=('File "/app/orders/api/views.py", line 57, in create_order\n    address = validate_address(payload["shipping"])',
                    'File "/app/orders/domain/address.py", line 23, in validate_address\n    raise ValidationError(msg)'),
            logger="orders.api.views"),
    Pattern("broker_lost", "FATAL", 0.1, lambda r: f"Lost connection to message broker amqp://orders@{private_ip(r)}:5672//, giving up after {ri(r, 5, 12)} retries",
            "Lost connection to message broker <*>, giving up after <*> retries", logger="orders.worker"),
])

ORDERS_CRASH = Pattern(
    "worker_killed", "FATAL", 0, lambda r: f"Worker (pid:{ri(r, 7, 400)}) was sent SIGKILL! Perhaps out of memory?",
    "Worker (pid:<*>) was sent SIGKILL! Perhaps out of memory?", channel="stderr", steady=False)

# -- inventory: Go, plain text (logrus text format, and plain log.Printf lines without a level) -----------

INVENTORY = ServiceSpec("inventory", "go", 12, tasks=2, per_day=16_000, docker_names=True, patterns=[
    Pattern("reserved", "INFO", 30, lambda r: f"reserved {ri(r, 1, 5)} units of {sku(r)} for order {order_id(r)}",
            "reserved <*> units of <*> for order <*>", logger="logrus"),
    Pattern("stock_level", "DEBUG", 15, lambda r: f"stock level {sku(r)} warehouse={pick(r, WAREHOUSES)} available={ri(r, 0, 500)}",
            "stock level <*> warehouse=<*> available=<*>", logger="logrus"),
    Pattern("cache", "INFO", 12, lambda r: f"cache refresh took {duration_ms(r, 90)}ms ({ri(r, 4000, 5000)} items)",
            "cache refresh took <*>ms (<*> items)", logger="plain"),
    Pattern("low_stock", "WARN", 3, lambda r: f"warning: low stock for {sku(r)} in {pick(r, WAREHOUSES)}: {ri(r, 0, 4)} left",
            "warning: low stock for <*> in <*>: <*> left", logger="plain"),
    Pattern("sync_failed", "ERROR", 0.6, lambda r: f"failed to sync stock from warehouse {pick(r, WAREHOUSES)}: context deadline exceeded",
            "failed to sync stock from warehouse <*>: context deadline exceeded", logger="plain"),
    Pattern("db_refused", "ERROR", 0.5, lambda r: f"dial tcp {private_ip(r)}:5432: connect: connection refused",
            "dial tcp <*>: connect: connection refused", logger="logrus"),
])

INVENTORY_PANIC = Pattern(
    "go_panic", "FATAL", 0, lambda r: "panic: runtime error: invalid memory address or nil pointer dereference",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    frames=("[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x8f4c1d]",
            "",
            "goroutine 4127 [running]:",
            "github.com/shop/inventory/internal/reserve.(*Service).Reserve(0xc000214000, {0xb1c2a0, 0xc0003a6f00}, 0xc00041e480)",
            "\t/src/internal/reserve/service.go:118 +0x1dd",
            "github.com/shop/inventory/internal/api.(*Handler).reserve(0xc00012e0a0, {0xb1b6c0, 0xc0004b21c0}, 0xc000580100)",
            "\t/src/internal/api/handlers.go:64 +0x14a",
            "net/http.HandlerFunc.ServeHTTP(0xc000118190?, {0xb1b6c0?, 0xc0004b21c0?}, 0x0?)",
            "\t/usr/local/go/src/net/http/server.go:2171 +0x29",
            "created by net/http.(*Server).Serve in goroutine 1",
            "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4"),
    channel="stderr", steady=False)

# -- api-gateway: nginx access logs (text, parsed by the router) and its error log on stderr -------------

API_GATEWAY = ServiceSpec("api-gateway", "nginx", 23, tasks=3, per_day=1_500, patterns=[
    Pattern("upstream_timeout", "ERROR", 1.0,
            lambda r: (f"upstream timed out (110: Connection timed out) while reading response header from upstream, "
                       f"client: {client_ip(r)}, server: _, request: \"GET /api/v1/orders/{order_id(r)} HTTP/1.1\", "
                       f"upstream: \"http://{private_ip(r)}:8080/api/v1/orders\", host: \"api.shop.example\""),
            "upstream timed out (110: Connection timed out) while reading response header from upstream, client: <*>, server: _, request: <*>, upstream: <*>, host: <*>",
            channel="stderr"),
    Pattern("conn_refused", "ERROR", 0.5,
            lambda r: (f"connect() failed (111: Connection refused) while connecting to upstream, client: {client_ip(r)}, "
                       f"server: _, request: \"POST /api/v1/payments HTTP/1.1\", upstream: \"http://{private_ip(r)}:8080/v1/payments\", host: \"api.shop.example\""),
            "connect() failed (111: Connection refused) while connecting to upstream, client: <*>, server: _, request: <*>, upstream: <*>, host: <*>",
            channel="stderr"),
    Pattern("limit_req", "WARN", 1.5,
            lambda r: f"limiting requests, excess: {ri(r, 10, 40)}.{ri(r, 0, 999):03d} by zone \"api\", client: {client_ip(r)}, server: _, request: \"GET /api/v1/products HTTP/1.1\"",
            "limiting requests, excess: <*> by zone \"api\", client: <*>, server: _, request: <*>", channel="stderr"),
])

SERVICES: tuple[ServiceSpec, ...] = (API_GATEWAY, CHECKOUT, ORDERS, PAYMENTS, INVENTORY)
CRASHES: dict[str, Pattern] = {"checkout": CHECKOUT_OOM, "payments": PAYMENTS_CRASH, "orders": ORDERS_CRASH,
                               "inventory": INVENTORY_PANIC}
# Patterns that come in 10-20 minute bursts (each is also steady at a low rate: a spike, not a novelty).
BURST_PATTERNS: tuple[tuple[str, str], ...] = (
    ("api-gateway", "upstream_timeout"), ("orders", "pool_exhausted"), ("payments", "provider_503"),
    ("checkout", "redis_timeout"), ("inventory", "db_refused"),
)

# -- HTTP traffic through the gateway --------------------------------------------------------------------

# (weight, method, path template, upstream service or None, typical latency ms)
ROUTES: tuple[tuple[float, str, str, str | None, float], ...] = (
    (30, "GET", "/api/v1/products/{sku}", "inventory", 25),
    (14, "GET", "/api/v1/cart/{uuid}", "checkout", 30),
    (6, "POST", "/api/v1/checkout", "checkout", 180),
    (12, "GET", "/api/v1/orders/{order}", "orders", 45),
    (5, "POST", "/api/v1/orders", "orders", 120),
    (4, "POST", "/api/v1/payments/{order}/capture", "payments", 250),
    (10, "GET", "/healthz", None, 1),
    (8, "GET", "/static/js/app.{hex}.js", None, 3),
)
# (weight, status)
STATUSES: tuple[tuple[float, int], ...] = (
    (880, 200), (30, 201), (15, 204), (25, 304), (20, 400), (10, 401), (25, 404), (5, 429),
    (4, 500), (3, 502), (1, 503), (2, 504),
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "ShopApp/4.12.0 (Android 14; Pixel 8)",
    "okhttp/4.12.0",
    "curl/8.5.0",
)
HEALTH_AGENT = "ELB-HealthChecker/2.0"
GATEWAY_REQUESTS_PER_DAY = 80_000
# Share of gateway requests whose upstream also logs the request (same trace_id / request_id).
DOWNSTREAM_LOG_SHARE = 0.45

# What the upstream logs for a request it served (service -> pattern).
REQUEST_PATTERNS: dict[str, Pattern] = {
    "inventory": Pattern("req_inventory", "INFO", 0, lambda r: f"served stock for {sku(r)} in {duration_ms(r, 4)}ms",
                         "served stock for <*> in <*>ms", logger="logrus"),
    "checkout": Pattern("req_checkout", "INFO", 0, lambda r: f"Handled request for session {hex_id(r, 16)} in {duration_ms(r, 20)} ms",
                        "Handled request for session <*> in <*> ms", logger="com.shop.checkout.web.RequestLogFilter"),
    "orders": Pattern("req_orders", "INFO", 0, lambda r: f"Handled order request in {duration_ms(r, 30)} ms",
                      "Handled order request in <*> ms", logger="orders.api.middleware"),
    "payments": Pattern("req_payments", "INFO", 0, lambda r: f"Handled capture request in {duration_ms(r, 200)} ms",
                        "Handled capture request in <*> ms", logger="Payments.Api.RequestLogging"),
}

# Start-up and shutdown lines per runtime (a new task after a deploy or a crash).
STARTUP: dict[str, tuple[str, ...]] = {
    "java": ("Starting CheckoutApplication v2.{rev}.0 using Java 21.0.5 with PID 1",
             "Tomcat started on port 8080 (http) with context path '/'",
             "Started CheckoutApplication in {secs} seconds (process running for {secs2})"),
    "dotnet": ("Now listening on: http://[::]:8080", "Application started. Press Ctrl+C to shut down.",
               "Hosting environment: Production"),
    "python": ("Starting gunicorn 23.0.0", "Listening at: http://0.0.0.0:8000 (1)", "Booting worker with pid: 7"),
    "go": ("starting inventory service version=1.{rev}.0 addr=:8080", "connected to postgres pool size=20"),
    "nginx": ("nginx/1.27.3 start worker processes",),
}
SHUTDOWN: dict[str, tuple[str, ...]] = {
    "java": ("Commencing graceful shutdown. Waiting for active requests to complete", "Graceful shutdown complete"),
    "dotnet": ("Application is shutting down...",),
    "python": ("Handling signal: term", "Shutting down: Master"),
    "go": ("shutting down: received signal terminated",),
    "nginx": ("gracefully shutting down",),
}
