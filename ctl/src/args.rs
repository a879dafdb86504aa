//! linlictl's command line.

use super::table::Format;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "linlictl", version, about = "linli operators' command line: queries, watches, records")]
pub struct Cli {
    /// The server: a district, street or community node (`host:port` or a URL).
    #[arg(long, env = "LINLICTL_ADDR", default_value = "127.0.0.1:7400", global = true)]
    pub addr: String,
    /// Output: aligned table, JSON, or CSV.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,
    /// Time allowed to connect and for each call (not for a watch's stream), in ms.
    #[arg(long, default_value_t = 10_000, global = true)]
    pub timeout_ms: u64,
    /// Mutual TLS: a directory written by `linlictl certs` (its `ca.pem`, and the
    /// certificate and key of `--as`). Unset: plaintext, to a server with
    /// `insecure = true`.
    #[arg(long, env = "LINLICTL_TLS_DIR", global = true)]
    pub tls_dir: Option<std::path::PathBuf>,
    /// With `--tls-dir`: whose certificate to show.
    #[arg(long = "as", env = "LINLICTL_AS", global = true)]
    pub as_id: Option<String>,
    /// With `--tls-dir`: the node id the server's certificate must name [default: the
    /// address's host].
    #[arg(long, global = true)]
    pub server_id: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Ask an aggregate query once.
    #[command(subcommand)]
    Query(QueryCmd),
    /// Follow an aggregate: print it, then again each time it changes.
    Watch {
        #[command(subcommand)]
        query: QueryCmd,
        /// Stop after this many answers (default: until interrupted).
        #[arg(long, global = true)]
        count: Option<u64>,
    },
    /// Replication status of the server's links.
    Status,
    /// One record, by key.
    Get { key: String },
    /// Where a record's latest change is durable (here, the street, the district) and,
    /// where it is stuck, the link it waits on. Ask the record's community.
    Where { key: String },
    /// An online backup of the server's store, written on the server's own disk under
    /// its `backup_dir` (`linli-node restore` makes a data directory of it).
    Backup {
        /// The backup's directory name, e.g. the date.
        #[arg(long)]
        label: String,
    },
    /// Records of one community's registry, a page at a time (no personal data).
    List {
        #[arg(long)]
        community: String,
        #[arg(long)]
        registry: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// The `next` key printed with the previous page.
        #[arg(long)]
        after: Option<String>,
    },
    /// Create or update a record.
    Write {
        /// Answer only once the write is durable at this tier above the node written
        /// to: `street`, `district` or `city` (default: once durable at the node).
        #[arg(long, global = true)]
        durable_at: Option<String>,
        /// How long to wait for `--durable-at`, in ms (the server's default: 10000).
        #[arg(long, global = true)]
        wait_ms: Option<u64>,
        #[command(subcommand)]
        write: WriteCmd,
    },
    /// A sign-in ticket for a node's web console, signed with the key of `--as` (from
    /// `--tls-dir`); paste it on the console's sign-in page. Talks to no server.
    ConsoleTicket {
        /// The node whose console it signs in to (its id, as its certificate names it).
        #[arg(long)]
        node: String,
        /// How long it is valid, in minutes (at most 15); it signs in once.
        #[arg(long, default_value_t = 10)]
        minutes: u64,
    },
    /// Make a development CA and a certificate for each node id and operator, for
    /// mutual TLS (`ca.pem`, `<id>.pem`, `<id>.key`); talks to no server.
    Certs {
        /// The directory to write to; files in it are never overwritten.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The CA's name (e.g. the district's id).
        #[arg(long, default_value = "linli-dev")]
        ca_name: String,
        /// Node ids (the district, its streets and communities) and operators as
        /// `<role>--<scope>--<name>`: `staff--<community>--wang`,
        /// `operator--<street or district>--li`, `auditor--<street or district>--zhao`.
        #[arg(required = true)]
        nodes: Vec<String>,
    },
}

/// Which part of the subtree, and when.
#[derive(Args, Debug, Clone, Default)]
pub struct Where {
    #[arg(long)]
    pub street: Option<String>,
    #[arg(long)]
    pub community: Option<String>,
    /// A request's category, a task's service, a site's kind.
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    /// "Now" for the query: ms since 1970, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (Shenzhen
    /// time). Default: the server's clock.
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dim {
    Street,
    Community,
    Category,
    Status,
}

#[derive(Subcommand, Debug, Clone)]
pub enum QueryCmd {
    /// Open requests counted by the chosen dimensions (a status filter counts that status).
    Open {
        #[command(flatten)]
        at: Where,
        /// Dimensions to count by, e.g. `--by street,status`.
        #[arg(long, value_delimiter = ',')]
        by: Vec<Dim>,
    },
    /// The open requests themselves, in record order, a page at a time.
    OpenList {
        #[command(flatten)]
        at: Where,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        after: Option<String>,
    },
    /// Open requests past their deadline, oldest first.
    Overdue {
        #[command(flatten)]
        at: Where,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Resolution time percentiles over a window of days.
    Resolution {
        #[command(flatten)]
        at: Where,
        /// First day (default: 30 days through `--to`).
        #[arg(long)]
        from: Option<String>,
        /// Last day (default: `--at`).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_delimiter = ',')]
        by: Vec<Dim>,
    },
    /// Tasks ordered, dispatched, accepted, completed; the median time of each step.
    Funnel {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        by_street: bool,
    },
    /// Micro-project budget and spend per community for a year; the 2,000,000 yuan cap.
    Projects {
        #[command(flatten)]
        at: Where,
        /// `YYYY` (default: the year of `--at`).
        #[arg(long)]
        year: Option<String>,
        #[arg(long)]
        over_cap: bool,
    },
    /// Volunteer hours by community and month, and the top teams.
    Hours {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        from_month: Option<String>,
        #[arg(long)]
        to_month: Option<String>,
        #[arg(long, default_value_t = 10)]
        top: u32,
    },
    /// Sites by kind and status, and the V stations that stopped reporting.
    Sites {
        #[command(flatten)]
        at: Where,
        /// Silent: no report for this many hours.
        #[arg(long, default_value_t = 24)]
        silent_hours: i64,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum WriteCmd {
    /// A new record: `field=VALUE` pairs (VALUE is JSON, or else text).
    Create {
        #[arg(long)]
        owner: String,
        #[arg(long)]
        registry: String,
        /// `field=VALUE` to set.
        fields: Vec<String>,
        /// `field=N`: add N to a counter.
        #[arg(long)]
        add: Vec<String>,
        /// `field=BY`: claim a claim field.
        #[arg(long)]
        claim: Vec<String>,
    },
    /// Change a record: `field=VALUE` pairs.
    Update {
        key: String,
        fields: Vec<String>,
        #[arg(long)]
        add: Vec<String>,
        #[arg(long)]
        claim: Vec<String>,
    },
}
