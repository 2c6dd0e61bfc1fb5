module github.com/geostream/geostream/processor-svc

go 1.26.8
