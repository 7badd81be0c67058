//! Goose peer of bench/peers.sh: every user loops GET /ok (no wait time),
//! counted as a failure unless the status is 2xx. Everything else (users,
//! increase rate, run time, host, report file) comes from Goose's command line.

use goose::prelude::*;

async fn get_ok(user: &mut GooseUser) -> TransactionResult {
    let _goose = user.get("/ok").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    GooseAttack::initialize()?
        .register_scenario(
            scenario!("Ok").register_transaction(transaction!(get_ok).set_name("ok")),
        )
        .execute()
        .await?;
    Ok(())
}
