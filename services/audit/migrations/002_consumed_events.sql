-- The consumer runtime's record of consumed events (pkg/consume.TableSQL, given as
-- ConsumedEventsTable by the service's Migrations):
-- an entry and its record commit together, so a redelivery adds nothing.
{{ .ConsumedEventsTable }}
