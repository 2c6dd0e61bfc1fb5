module github.com/geostream/geostream/ingest-svc

go 1.26.8
