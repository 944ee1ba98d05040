"""The room funnel: viewers -> booking taps -> bookings -> arrivals -> redemptions, per
store and in total, with the credit split between stores and the live team."""
