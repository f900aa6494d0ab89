//! While the demo lingers, today's arrivals come to the console one at a time (round and
//! round): the next is scanned once the officer has dealt with the one in front (confirmed,
//! referred or "new traveller"), so everything the console shows can be seen on the demo's
//! travellers.

use std::time::Duration;

use jiff::civil::Date;
use tokio::sync::oneshot;

use super::cast::Traveller;
use super::chips::DemoPki;
use super::desk::{Lanes, Scanners};
use crate::adapters::chip_sim::{SimulatedChip, SimulatedField};
use crate::lane::commands::LaneCommand;
use crate::lane::driver::LaneDriver;
use crate::terminal::Arrival;

/// The arrivals the console is shown while the demo lingers, with their chips.
pub struct Counter<'a> {
    pub field: &'a SimulatedField,
    pub pki: &'a DemoPki,
    pub today: Date,
    pub travellers: &'a [&'a Traveller],
}

/// Brings today's arrivals to the arrivals lane one at a time until `linger` has passed,
/// handing the console's commands to the lane.
pub async fn console_rounds(
    lanes: &mut Lanes,
    counter: Counter<'_>,
    scanners: &mut Scanners,
    linger: Duration,
) -> Result<(), String> {
    let until = tokio::time::Instant::now() + linger;
    let mut next = counter.travellers.iter().cycle();
    let mut waiting = false;
    loop {
        if !waiting
            && !has_traveller(&mut lanes.terminal.lane).await
            && let Some(traveller) = next.next()
        {
            counter
                .field
                .place(Some(chip_of(counter.pki, traveller, counter.today)?));
            scanners.present(traveller).await?;
            waiting = true;
        }
        let arrival = tokio::select! {
            Some(arrival) = lanes.terminal.next_arrival() => arrival,
            () = tokio::time::sleep_until(until) => return Ok(()),
        };
        match arrival {
            Arrival::Device(event) => {
                if lanes.terminal.lane.on_device(event).await.is_some() {
                    waiting = false;
                }
            }
            Arrival::Api(command) => lanes.terminal.lane.on_api(command).await,
        }
    }
}

/// Whether a traveller stands in front of the officer.
async fn has_traveller(lane: &mut LaneDriver) -> bool {
    let (reply, answer) = oneshot::channel();
    lane.on_api(LaneCommand::Current { reply }).await;
    matches!(answer.await, Ok(Ok(value)) if !value.is_null())
}

/// The simulated chip of a traveller's passport, opened by its printed MRZ.
pub fn chip_of(pki: &DemoPki, traveller: &Traveller, today: Date) -> Result<SimulatedChip, String> {
    let text = format!("{}\n{}", traveller.mrz[0], traveller.mrz[1]);
    let options = crate::core::mrz::ParseOptions {
        mode: crate::core::mrz::Mode::Tolerant,
        reference_date: today,
        french_national_id: false,
    };
    let information = crate::core::mrz::parse(&text, &options)
        .mrz_information()
        .ok_or_else(|| format!("{}: no MRZ information for the chip", traveller.label))?;
    pki.chip(&traveller.mrz, &information, traveller.chip)
}
